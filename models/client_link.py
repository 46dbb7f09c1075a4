"""Links a client opens without signing in: one document of a record (a commercial offer,
a contract, an invoice) or one brief to fill. The URL carries a token signed with SECRET_KEY;
the table keeps its SHA-256 to find the link. The token is derived from the row's random
`nonce` with SECRET_KEY, so the manager can copy or resend the link later while a copy of the
database alone still opens nothing. A link expires when the manager said, and can be
revoked."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import DateTime, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models.base import Model, current_actor_id, utcnow


class ClientLink(Model):
    __tablename__ = "client_link"
    __table_args__ = (Index("ix_client_link_record", "entity", "record_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)
    nonce: Mapped[str] = mapped_column(String(64), nullable=False)
    entity: Mapped[str] = mapped_column(String(32), nullable=False)
    record_id: Mapped[int] = mapped_column(Integer, nullable=False)
    # Exactly one of the two: what the link shows.
    document_id: Mapped[int | None] = mapped_column(Integer, ForeignKey("document.id"),
                                                    index=True)
    brief_id: Mapped[int | None] = mapped_column(Integer, ForeignKey("brief.id"), index=True)
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    revoked_by_id: Mapped[int | None] = mapped_column(Integer, ForeignKey("ab_user.id"))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False, default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(Integer, ForeignKey("ab_user.id"),
                                                      default=current_actor_id)
    open_count: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    first_opened_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    last_opened_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    # When the last opening was told on the timeline: openings closer than a few minutes to
    # it are counted but not told again.
    last_logged_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    # Where «Отправить клиенту по e-mail» sent it last.
    sent_to: Mapped[str | None] = mapped_column(String(300))

    document = relationship("Document")
    brief = relationship("Brief")
    created_by = relationship("CrmUser", foreign_keys=[created_by_id])

    def is_expired(self, now: dt.datetime | None = None) -> bool:
        return self.expires_at <= (now or utcnow())
