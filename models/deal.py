"""Deals, their line items and payment schedule.

The budget of a deal is the sum of its line items unless entered by hand (`budget_manual`);
it is recomputed in the flush that changes the items, whichever path changed them."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import (Boolean, Column, Date, DateTime, ForeignKey, Index, Integer, Numeric,
                        String, Table, Text, event, or_, select)
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.orm import Mapped, Session, mapped_column, relationship

from models.base import (AuditedMixin, CheckedMixin, Model, TimestampMixin, TrashableMixin,
                         TrashChildMixin, VersionedMixin, in_rows)
from models.pipeline import PipelineRecordMixin, Stage, StageKind, install_stage_tracking
from models.lines import LineTotals, number_errors
from models.product import LineItemMixin

CENT = Decimal("0.01")

deal_observer = Table(
    "deal_observer", Model.metadata,
    Column("deal_id", Integer, ForeignKey("deal.id", ondelete="CASCADE"), primary_key=True),
    Column("user_id", Integer, ForeignKey("ab_user.id", ondelete="CASCADE"), primary_key=True,
           index=True),  # the row rule looks observers up by user
)

deal_contact = Table(
    "deal_contact", Model.metadata,
    Column("deal_id", Integer, ForeignKey("deal.id", ondelete="CASCADE"), primary_key=True),
    Column("contact_id", Integer, ForeignKey("contact.id", ondelete="CASCADE"),
           primary_key=True),
)


def _dec(value) -> Decimal:
    if value is None or value == "":
        return Decimal(0)
    return Decimal(str(value))


class Deal(PipelineRecordMixin, AuditedMixin, CheckedMixin, VersionedMixin, TimestampMixin,
           TrashableMixin, Model):
    __tablename__ = "deal"
    # The list's default order: newest first.
    __table_args__ = (Index("ix_deal_created_at", "created_at"),)
    __entity__ = "deal"
    __label__ = "Сделка"
    __pipeline_entity__ = "deal"
    __checked_fields__ = ("title", "pipeline", "stage", "budget", "source", "lost_reason",
                          "lost_comment", "custom")

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    title: Mapped[str] = mapped_column(String(300), nullable=False)
    budget: Mapped[Decimal] = mapped_column(Numeric(14, 2), nullable=False, default=0,
                                            info={"money": True})
    budget_manual: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    responsible_id: Mapped[int | None] = mapped_column(Integer, ForeignKey("ab_user.id"),
                                                       index=True)
    source_id: Mapped[int | None] = mapped_column(Integer, ForeignKey("reference_item.id"))
    company_id: Mapped[int | None] = mapped_column(Integer, ForeignKey("company.id"), index=True)
    lost_reason_id: Mapped[int | None] = mapped_column(Integer, ForeignKey("reference_item.id"))
    lost_comment: Mapped[str | None] = mapped_column(Text)
    closed_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    lead_id: Mapped[int | None] = mapped_column(Integer, ForeignKey("lead.id"), index=True)

    responsible = relationship("CrmUser", foreign_keys=[responsible_id])
    observers = relationship("CrmUser", secondary=deal_observer)
    source = relationship("ReferenceItem", foreign_keys=[source_id])
    company = relationship("Company", foreign_keys=[company_id])
    contacts = relationship("Contact", secondary=deal_contact)
    lost_reason = relationship("ReferenceItem", foreign_keys=[lost_reason_id])
    lead = relationship("Lead", foreign_keys=[lead_id])
    items = relationship("DealItem", back_populates="deal", order_by="DealItem.id",
                         cascade="all, delete-orphan")
    payments = relationship("PaymentScheduleEntry", back_populates="deal",
                            order_by="PaymentScheduleEntry.planned_date",
                            cascade="all, delete-orphan")

    __index_creator__ = True

    @classmethod
    def scope_clause(cls, user_id: int, user_ids: set[int]):
        observed = select(deal_observer.c.deal_id).where(deal_observer.c.user_id == user_id)
        return or_(cls.responsible_id.in_(user_ids), cls.created_by_id.in_(user_ids),
                   in_rows(cls.id, observed))

    @classmethod
    def check_values(cls, v) -> dict[str, str]:
        errors: dict[str, str] = {}
        if not (v.title or "").strip():
            errors["title"] = "Укажите название сделки"
        errors.update(cls.pipeline_errors(v))
        if v.budget not in (None, "") and _dec(v.budget) < 0:
            errors["budget"] = "Бюджет не может быть отрицательным"
        errors.update(cls.reference_errors(v, "source", "lead_source", "Источники и каналы"))
        errors.update(cls.reference_errors(v, "lost_reason", "lost_reason",
                                           "Причины проигрыша сделки"))
        reason = v.lost_reason
        if reason is not None and reason.is_other and not (v.lost_comment or "").strip() \
                and "lost_reason" not in errors:
            errors["lost_comment"] = "Для «Другое» опишите причину проигрыша"
        errors.update(cls.custom_errors(v))
        return errors

    def on_stage_entered(self, now, inserting: bool) -> None:
        stage = self.stage
        if stage is None and self.stage_id is not None:
            stage = sa_inspect(self).session.get(Stage, self.stage_id)
        closed = stage is not None and stage.kind in (StageKind.won.value, StageKind.lost.value)
        self.closed_at = (self.closed_at or now) if closed and inserting else \
            (now if closed else None)

    def __str__(self) -> str:
        return self.title or f"Сделка №{self.id}"


install_stage_tracking(Deal)


class DealItem(LineItemMixin, AuditedMixin, CheckedMixin, TimestampMixin, TrashChildMixin,
               Model):
    """A line of a deal. Department, responsible and the grey flag come from the product."""

    __tablename__ = "deal_item"
    __entity__ = "deal_item"
    __label__ = "Позиция сделки"
    __trash_parent__ = "deal"
    __checked_fields__ = ("deal", "name", "quantity", "price")

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    deal_id: Mapped[int] = mapped_column(Integer, ForeignKey("deal.id", ondelete="CASCADE"),
                                         nullable=False, index=True)
    product_id: Mapped[int | None] = mapped_column(Integer, ForeignKey("product.id"), index=True)
    name: Mapped[str | None] = mapped_column(String(300))
    unit: Mapped[str | None] = mapped_column(String(16), default="шт")
    quantity: Mapped[Decimal] = mapped_column(Numeric(14, 3), nullable=False, default=1)
    price: Mapped[Decimal | None] = mapped_column(Numeric(14, 2), info={"money": True})
    amount: Mapped[Decimal] = mapped_column(Numeric(14, 2), nullable=False, default=0,
                                            info={"money": True})
    department_id: Mapped[int | None] = mapped_column(Integer, ForeignKey("department.id"))
    responsible_id: Mapped[int | None] = mapped_column(Integer, ForeignKey("ab_user.id"))
    is_grey: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)

    deal = relationship(Deal, back_populates="items")
    product = relationship("Product")
    department = relationship("Department")
    responsible = relationship("CrmUser", foreign_keys=[responsible_id])

    @classmethod
    def scope_clause(cls, user_id: int, user_ids: set[int]):
        return cls.deal_id.in_(select(Deal.id).where(Deal.scope_clause(user_id, user_ids)))

    @classmethod
    def check_values(cls, v) -> dict[str, str]:
        errors = {}
        if v.deal is None:
            errors["deal"] = "Выберите сделку"
        if not (v.name or "").strip() and v.product is None:
            errors["name"] = "Укажите наименование или выберите номенклатуру"
        errors.update(number_errors(cls, v))
        return errors

    @property
    def grey_label(self) -> str:
        return "серый" if self.is_grey else "белый"

    def compute_amount(self) -> None:
        self.amount = (_dec(self.quantity) * _dec(self.price)).quantize(CENT)

    def __str__(self) -> str:
        return self.name or (self.product.name if self.product else f"Позиция №{self.id}")


class PaymentScheduleEntry(AuditedMixin, CheckedMixin, TimestampMixin, TrashChildMixin,
                           Model):
    """A planned payment of a deal: a share of the budget, due on a date."""

    __tablename__ = "payment_schedule"
    __entity__ = "payment_schedule"
    __label__ = "Платёж по графику"
    __trash_parent__ = "deal"
    __checked_fields__ = ("deal", "percent", "amount", "planned_date")

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    deal_id: Mapped[int] = mapped_column(Integer, ForeignKey("deal.id", ondelete="CASCADE"),
                                         nullable=False, index=True)
    percent: Mapped[Decimal | None] = mapped_column(Numeric(5, 2))
    amount: Mapped[Decimal | None] = mapped_column(Numeric(14, 2), info={"money": True})
    planned_date: Mapped[dt.date | None] = mapped_column(Date)
    paid_date: Mapped[dt.date | None] = mapped_column(Date)
    note: Mapped[str | None] = mapped_column(String(500))

    deal = relationship(Deal, back_populates="payments")

    @classmethod
    def scope_clause(cls, user_id: int, user_ids: set[int]):
        return cls.deal_id.in_(select(Deal.id).where(Deal.scope_clause(user_id, user_ids)))

    @classmethod
    def check_values(cls, v) -> dict[str, str]:
        errors = {}
        if v.deal is None:
            errors["deal"] = "Выберите сделку"
        if v.percent not in (None, "") and not 0 <= _dec(v.percent) <= 100:
            errors["percent"] = "Процент: от 0 до 100"
        if v.amount not in (None, "") and _dec(v.amount) < 0:
            errors["amount"] = "Сумма не может быть отрицательной"
        if v.percent in (None, "") and v.amount in (None, ""):
            errors["amount"] = "Укажите процент или сумму платежа"
        if v.planned_date is None:
            errors["planned_date"] = "Укажите плановую дату"
        return errors

    def __str__(self) -> str:
        return f"Платёж по сделке №{self.deal_id}"


# --- derived values, kept in the flush whichever path wrote ---------------------------------
# The budget from the lines: models/lines.py (installed by app.listeners).
LINE_TOTALS = LineTotals(Deal, DealItem, parent_attr="deal", items_attr="items",
                         total_attr="budget", manual_attr="budget_manual")


def _payment_amounts(session: Session, _context, _instances) -> None:
    """A payment given as a share of the budget gets its amount."""
    for obj in list(session.new) + list(session.dirty):
        if isinstance(obj, PaymentScheduleEntry) and obj.amount is None \
                and obj.percent is not None and obj.deal is not None:
            obj.amount = (_dec(obj.deal.budget) * _dec(obj.percent) / 100).quantize(CENT)


def install_payment_amounts() -> None:
    """Called once by app.listeners.install(), before the line totals (as it always ran)."""
    event.listen(Session, "before_flush", _payment_amounts)
