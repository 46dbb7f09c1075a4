"""Leads: a first request, before it becomes a company, a contact and a deal."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import (Column, DateTime, ForeignKey, Index, Integer, String, Table, Text, or_,
                        select)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models import requisites as rq
from models.base import (AuditedMixin, CheckedMixin, Model, TimestampMixin, TrashableMixin,
                         VersionedMixin, in_rows)
from models.pipeline import PipelineRecordMixin, install_stage_tracking

lead_observer = Table(
    "lead_observer", Model.metadata,
    Column("lead_id", Integer, ForeignKey("lead.id", ondelete="CASCADE"), primary_key=True),
    Column("user_id", Integer, ForeignKey("ab_user.id", ondelete="CASCADE"), primary_key=True,
           index=True),  # the row rule looks observers up by user
)


class Lead(PipelineRecordMixin, AuditedMixin, CheckedMixin, VersionedMixin, TimestampMixin,
           TrashableMixin, Model):
    __tablename__ = "lead"
    # The list's default order: newest first.
    __table_args__ = (Index("ix_lead_created_at", "created_at"),)
    __entity__ = "lead"
    __label__ = "Лид"
    __pipeline_entity__ = "lead"
    __checked_fields__ = ("title", "pipeline", "stage", "source", "email", "inn",
                          "client_activity",
                          "activity_other", "quality_reason", "quality_comment", "custom")

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    title: Mapped[str] = mapped_column(String(300), nullable=False)
    source_id: Mapped[int | None] = mapped_column(Integer, ForeignKey("reference_item.id"))
    responsible_id: Mapped[int | None] = mapped_column(Integer, ForeignKey("ab_user.id"),
                                                       index=True)
    # What the lead told us before conversion.
    company_name: Mapped[str | None] = mapped_column(String(300))
    company_full_name: Mapped[str | None] = mapped_column(String(500))
    # Identifies the company at conversion: two leads of one company make one counterparty.
    inn: Mapped[str | None] = mapped_column(String(12), index=True)
    contact_name: Mapped[str | None] = mapped_column(String(300))
    phone: Mapped[str | None] = mapped_column(String(64), index=True)
    email: Mapped[str | None] = mapped_column(String(320), index=True)
    # What it became after conversion.
    company_id: Mapped[int | None] = mapped_column(Integer, ForeignKey("company.id"), index=True)
    contact_id: Mapped[int | None] = mapped_column(Integer, ForeignKey("contact.id"), index=True)
    client_activity_id: Mapped[int | None] = mapped_column(Integer,
                                                           ForeignKey("reference_item.id"))
    activity_other: Mapped[str | None] = mapped_column(String(300))
    quality_reason_id: Mapped[int | None] = mapped_column(Integer,
                                                          ForeignKey("reference_item.id"))
    quality_comment: Mapped[str | None] = mapped_column(Text)
    converted_at: Mapped[dt.datetime | None] = mapped_column(DateTime)

    source = relationship("ReferenceItem", foreign_keys=[source_id])
    responsible = relationship("CrmUser", foreign_keys=[responsible_id])
    observers = relationship("CrmUser", secondary=lead_observer)
    company = relationship("Company", foreign_keys=[company_id])
    contact = relationship("Contact", foreign_keys=[contact_id])
    client_activity = relationship("ReferenceItem", foreign_keys=[client_activity_id])
    quality_reason = relationship("ReferenceItem", foreign_keys=[quality_reason_id])

    __index_creator__ = True

    @classmethod
    def scope_clause(cls, user_id: int, user_ids: set[int]):
        observed = select(lead_observer.c.lead_id).where(lead_observer.c.user_id == user_id)
        return or_(cls.responsible_id.in_(user_ids), cls.created_by_id.in_(user_ids),
                   in_rows(cls.id, observed))

    @classmethod
    def check_values(cls, v) -> dict[str, str]:
        errors: dict[str, str] = {}
        if not (v.title or "").strip():
            errors["title"] = "Укажите название лида"
        errors.update(cls.pipeline_errors(v))
        if rq.email_error(v.email):
            errors["email"] = rq.email_error(v.email)
        if (v.inn or "").strip() and rq.any_inn_error(v.inn):
            errors["inn"] = rq.any_inn_error(v.inn)
        errors.update(cls.reference_errors(v, "source", "lead_source", "Источники и каналы"))
        errors.update(cls.reference_errors(v, "client_activity", "client_activity",
                                           "Виды деятельности клиента"))
        errors.update(cls.reference_errors(v, "quality_reason", "lead_quality_reason",
                                           "Причины некачественного лида"))
        activity = v.client_activity
        if activity is not None and activity.is_other and not (v.activity_other or "").strip() \
                and "client_activity" not in errors:
            errors["activity_other"] = "Для «Другое» опишите вид деятельности"
        reason = v.quality_reason
        if reason is not None and reason.is_other and not (v.quality_comment or "").strip() \
                and "quality_reason" not in errors:
            errors["quality_comment"] = "Для «Другое» опишите причину"
        errors.update(cls.custom_errors(v))
        return errors

    def __str__(self) -> str:
        return self.title or f"Лид №{self.id}"


install_stage_tracking(Lead)
