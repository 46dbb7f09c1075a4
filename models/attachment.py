"""Files attached to any business record. The bytes live on disk (app/attachments.py); this
table holds what is needed to list, check and serve them."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import DateTime, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models.base import AuditedMixin, Model, TrashableMixin, current_actor_id, utcnow


class Attachment(AuditedMixin, TrashableMixin, Model):
    """Audited so that who attached and who deleted a file stays in the journal."""

    __tablename__ = "attachment"
    __entity__ = "attachment"
    __label__ = "Файл"
    __table_args__ = (Index("ix_attachment_record", "entity", "record_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    entity: Mapped[str] = mapped_column(String(32), nullable=False)
    record_id: Mapped[int] = mapped_column(Integer, nullable=False)
    # The original name, sanitised (no directories, no control characters; Cyrillic kept).
    filename: Mapped[str] = mapped_column(String(255), nullable=False)
    # The name on disk, relative to UPLOAD_DIR: random, never derived from the user's name.
    storage_name: Mapped[str] = mapped_column(String(128), nullable=False, unique=True)
    size: Mapped[int] = mapped_column(Integer, nullable=False)
    content_type: Mapped[str] = mapped_column(String(200), nullable=False,
                                              default="application/octet-stream")
    sha256: Mapped[str] = mapped_column(String(64), nullable=False, index=True)
    uploaded_by_id: Mapped[int | None] = mapped_column(Integer, ForeignKey("ab_user.id"),
                                                       nullable=True, default=current_actor_id)
    uploaded_at: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False, default=utcnow)

    uploaded_by = relationship("CrmUser", foreign_keys=[uploaded_by_id])

    @property
    def size_text(self) -> str:
        """1536 -> "1,5 КБ"."""
        size = float(self.size or 0)
        for unit in ("Б", "КБ", "МБ"):
            if size < 1024 or unit == "МБ":
                text = f"{size:.0f}" if unit == "Б" else f"{size:.1f}".replace(".", ",")
                return f"{text} {unit}"
            size /= 1024
        return f"{size:.1f} ГБ"  # pragma: no cover

    def __str__(self) -> str:
        return self.filename or f"Файл №{self.id}"
