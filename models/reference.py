"""Reference lists an admin edits without code: reasons, sources, kinds, priorities..."""
from __future__ import annotations

from sqlalchemy import Boolean, ForeignKey, Integer, String, UniqueConstraint, select
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models.base import AuditedMixin, CheckedMixin, Model, TimestampMixin


class ReferenceList(AuditedMixin, TimestampMixin, Model):
    __tablename__ = "reference_list"
    __entity__ = "reference_list"
    __label__ = "Справочник"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    # "Другое" + free text: an item flagged is_other asks for a comment.
    allow_other: Mapped[bool] = mapped_column(Boolean, default=False, nullable=False)

    items = relationship("ReferenceItem", back_populates="list",
                         order_by="ReferenceItem.sort_order", cascade="all, delete-orphan")

    def __str__(self) -> str:
        return self.name


class ReferenceItem(AuditedMixin, CheckedMixin, TimestampMixin, Model):
    __tablename__ = "reference_item"
    __table_args__ = (UniqueConstraint("list_id", "code", name="uq_reference_item_code"),)
    __entity__ = "reference_item"
    __label__ = "Элемент справочника"
    __checked_fields__ = ("code", "label")

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    list_id: Mapped[int] = mapped_column(Integer, ForeignKey("reference_list.id"),
                                         nullable=False, index=True)
    code: Mapped[str] = mapped_column(String(64), nullable=False)
    label: Mapped[str] = mapped_column(String(200), nullable=False)
    sort_order: Mapped[int] = mapped_column(Integer, default=100, nullable=False)
    active: Mapped[bool] = mapped_column(Boolean, default=True, nullable=False)
    is_other: Mapped[bool] = mapped_column(Boolean, default=False, nullable=False)

    list = relationship(ReferenceList, back_populates="items")

    @classmethod
    def check_values(cls, v) -> dict[str, str]:
        errors = {}
        code = (v.code or "").strip()
        if not code:
            errors["code"] = "Укажите код"
        elif not all(ch.isalnum() or ch in "_-" for ch in code):
            errors["code"] = "Код: латинские буквы, цифры, _ и -"
        if not (v.label or "").strip():
            errors["label"] = "Укажите значение"
        return errors

    def __str__(self) -> str:
        return self.label


def choice_query(list_code: str, keep_id: int | None = None):
    """Items offered on a form: active ones, plus the one a record already holds."""
    stmt = (select(ReferenceItem).join(ReferenceList)
            .where(ReferenceList.code == list_code)
            .order_by(ReferenceItem.sort_order, ReferenceItem.label))
    if keep_id:
        return stmt.where((ReferenceItem.active.is_(True)) | (ReferenceItem.id == keep_id))
    return stmt.where(ReferenceItem.active.is_(True))


# The list a record field pointing at an item draws from: a field of that name draws from the
# same list on every entity that has it (a process may name its own lost-reason list).
FIELD_LISTS = {"topic": "event_topic", "source": "lead_source", "lost_reason": "lost_reason",
               "client_activity": "client_activity", "quality_reason": "lead_quality_reason",
               "rejection_reason": "rejection_reason"}
