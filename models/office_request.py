"""Employees' requests (seed 002's office processes): заявка на оплату, согласование
документов, заявление на больничный, на отпуск или отгул. Each kind is a process definition
of the entity `request` with its own pipeline; what is specific to a kind lives in the
definition's custom fields.

A request is personal: its row rule is not the role's scope. The employee it is for and its
author see it, the heads of that employee's department see their people's, and whoever it
reaches (an approver, the assignee of one of its tasks, a participant of its stage) sees it;
an accountant's or a director's «all» does not open the others (a sick leave is nobody
else's business)."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import Date, ForeignKey, Index, Integer, Numeric, String, or_, select
from sqlalchemy import event as sa_event
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models.approval import Approval, ApprovalStep
from models.base import (AuditedMixin, CheckedMixin, Model, TimestampMixin, TrashableMixin,
                         VersionedMixin, in_rows)
from models.pipeline import PipelineRecordMixin, install_stage_tracking
from models.user import CrmUser, Department

MAX_AMOUNT = Decimal("999999999999.99")


class OfficeRequest(PipelineRecordMixin, AuditedMixin, CheckedMixin, VersionedMixin,
                    TimestampMixin, TrashableMixin, Model):
    __tablename__ = "office_request"
    __table_args__ = (Index("ix_office_request_created_at", "created_at"),)
    __entity__ = "request"
    __label__ = "Заявка сотрудника"
    __pipeline_entity__ = "request"
    __index_creator__ = True
    __checked_fields__ = ("title", "pipeline", "stage", "amount", "date_from", "date_to",
                          "custom")

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    title: Mapped[str] = mapped_column(String(300), nullable=False)
    # The employee the request is for (its author by default).
    responsible_id: Mapped[int | None] = mapped_column(Integer, ForeignKey("ab_user.id"),
                                                       index=True)
    # The employee's department when the request was saved: the heads who see it.
    department_id: Mapped[int | None] = mapped_column(Integer, ForeignKey("department.id"),
                                                      index=True)
    amount: Mapped[Decimal | None] = mapped_column(Numeric(14, 2), info={"money": True})
    date_from: Mapped[dt.date | None] = mapped_column(Date)
    date_to: Mapped[dt.date | None] = mapped_column(Date)

    responsible = relationship("CrmUser", foreign_keys=[responsible_id])
    department = relationship("Department", foreign_keys=[department_id])
    created_by = relationship("CrmUser", foreign_keys="OfficeRequest.created_by_id",
                              viewonly=True)

    @classmethod
    def scope_clause(cls, user_id: int, _user_ids):
        """A request has a row rule (the screens and the API filter by it); app.scope uses
        `personal_clause`, never the role's scope, so this is only the author's own."""
        return or_(cls.responsible_id == user_id, cls.created_by_id == user_id)

    @classmethod
    def personal_clause(cls, user, write: bool):
        """The rows `user` may see (or change, `write`): see the module's docstring."""
        mine = or_(cls.responsible_id == user.id, cls.created_by_id == user.id)
        if write:
            return mine
        headed = select(Department.id).where(Department.head_id == user.id)
        reached = select(Approval.record_id).join(ApprovalStep).where(
            Approval.entity == cls.__entity__, ApprovalStep.user_id == user.id)
        return or_(mine, in_rows(cls.department_id, headed), in_rows(cls.id, reached))

    @classmethod
    def check_values(cls, v) -> dict[str, str]:
        errors: dict[str, str] = {}
        if not (v.title or "").strip():
            errors["title"] = "Укажите, о чём заявка"
        errors.update(cls.pipeline_errors(v))
        amount = v.amount
        if amount is not None:
            try:
                amount = Decimal(str(amount))
            except ArithmeticError:
                errors["amount"] = "Сумма — число"
            else:
                if not amount.is_finite() or amount < 0 or amount > MAX_AMOUNT:
                    errors["amount"] = "Сумма — число от 0 до 999 999 999 999,99"
        if v.date_from and v.date_to and v.date_to < v.date_from:
            errors["date_to"] = "Дата окончания раньше даты начала"
        errors.update(cls.custom_errors(v))
        return errors

    def __str__(self) -> str:
        return self.title or f"Заявка №{self.id}"


def _department_of_employee(_mapper, connection, target) -> None:
    """The request follows its employee's department as it is when saved."""
    if target.responsible_id is None:
        target.department_id = None
        return
    target.department_id = connection.execute(
        select(CrmUser.department_id).where(CrmUser.id == target.responsible_id)).scalar()


install_stage_tracking(OfficeRequest)  # first: it makes the author the employee if none
sa_event.listen(OfficeRequest, "before_insert", _department_of_employee)
sa_event.listen(OfficeRequest, "before_update", _department_of_employee)
