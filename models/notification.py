"""In-app notifications: what the bell in the top bar counts and lists."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import DateTime, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models.base import Model, utcnow


class Notification(Model):
    __tablename__ = "notification"
    __entity__ = "notification"
    __label__ = "Уведомление"
    # A job delivering the same thing twice (retry, re-enqueue) makes one row per person.
    __table_args__ = (UniqueConstraint("source_key", "user_id", name="uq_notification_source"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(Integer, ForeignKey("ab_user.id", ondelete="CASCADE"),
                                         nullable=False, index=True)
    text: Mapped[str] = mapped_column(Text, nullable=False)
    # What happened: "reminder", "overdue", "escalation", "process", "task".
    kind: Mapped[str] = mapped_column(String(32), nullable=False, default="process")
    entity: Mapped[str | None] = mapped_column(String(32))
    record_id: Mapped[int | None] = mapped_column(Integer)
    source_key: Mapped[str] = mapped_column(String(220), nullable=False)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False, default=utcnow,
                                                    index=True)
    read_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    # The due time of what it tells about (a reminder's due_at): lateness is measured on it.
    due_at: Mapped[dt.datetime | None] = mapped_column(DateTime)

    user = relationship("CrmUser")

    @property
    def is_read(self) -> bool:
        return self.read_at is not None
