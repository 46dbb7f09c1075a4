"""The audit log: every insert, update and delete of a business record, and who moved it to
the recycle bin, restored it or purged it."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import JSON, DateTime, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models.base import Model, utcnow


class AuditLog(Model):
    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow, nullable=False, index=True)
    user_id: Mapped[int | None] = mapped_column(Integer, ForeignKey("ab_user.id"), nullable=True)
    # insert / update / delete, and the recycle bin's trash / restore / purge
    action: Mapped[str] = mapped_column(String(16), nullable=False)
    entity: Mapped[str] = mapped_column(String(32), nullable=False, index=True)
    record_id: Mapped[int] = mapped_column(Integer, nullable=False, index=True)
    record_repr: Mapped[str | None] = mapped_column(String(300), nullable=True)
    # {"field": [old, new], ...}
    changes: Mapped[object] = mapped_column(JSON, nullable=True)

    user = relationship("CrmUser", foreign_keys=[user_id])

    ACTION_LABELS = {"insert": "Создание", "update": "Изменение", "delete": "Удаление",
                     "trash": "Перемещено в корзину", "restore": "Восстановлено из корзины",
                     "purge": "Удалено навсегда"}

    @property
    def action_label(self) -> str:
        return self.ACTION_LABELS.get(self.action, self.action)

    @property
    def changes_text(self) -> str:
        if not self.changes:
            return ""
        return "; ".join(f"{field}: {old!s} → {new!s}" for field, (old, new)
                         in self.changes.items())
