"""«Ознакомление»: a head hands a document (files, a link) to people and departments, each
of them confirms «Ознакомлен(а)» by a deadline. The launch, the confirmations and the
reminders are process/acknowledgement.py; the screens views/acknowledgement.py."""
from __future__ import annotations

import datetime as dt
import enum
import re
from urllib.parse import urlsplit

from sqlalchemy import (Column, DateTime, ForeignKey, Integer, String, Table, Text,
                        UniqueConstraint)
from sqlalchemy.orm import Mapped, mapped_column, relationship, validates

from models.base import AuditedMixin, Model, utcnow

TITLE_MAX = 300
DESCRIPTION_MAX = 10000
LINK_MAX = 2000
BAD_LINK = ("Ссылка должна начинаться с http:// или https:// и вести на адрес в сети, "
            "например https://portal.example.ru/docs/5")
# Spaces, control characters and the characters a browser would quietly rewrite: a link
# shown as an href must be the link the author typed.
_UNSAFE_IN_LINK = re.compile(r"[\s\x00-\x1f\x7f\\<>\"'`]")


class AcknowledgementStatus(str, enum.Enum):
    open = "open"
    closed = "closed"


STATUS_LABELS = {"open": "Идёт ознакомление", "closed": "Закрыто"}


def link_error(value: str | None) -> str | None:
    """None for an empty or acceptable link, else the Russian sentence. Only http(s): a
    `javascript:` or `data:` link on the document page would run in the panel's origin.
    A link with a user name ("https://bank.ru@evil.example") reads as one site and opens
    another, so it is refused too."""
    if not value:
        return None
    if len(value) > LINK_MAX:
        return f"Ссылка слишком длинная: не больше {LINK_MAX} символов"
    if _UNSAFE_IN_LINK.search(value):
        return BAD_LINK
    try:
        parts = urlsplit(value)
        host = parts.hostname
        _port = parts.port  # a port that is no number raises here
    except ValueError:
        return BAD_LINK
    if parts.scheme.lower() not in ("http", "https") or not host or "@" in parts.netloc:
        return BAD_LINK
    return None


acknowledgement_department = Table(
    "acknowledgement_department", Model.metadata,
    Column("acknowledgement_id", Integer, ForeignKey("acknowledgement.id", ondelete="CASCADE"),
           primary_key=True),
    Column("department_id", Integer, ForeignKey("department.id", ondelete="CASCADE"),
           primary_key=True),
)


class Acknowledgement(AuditedMixin, Model):
    """The departments chosen at the launch are kept for the page: their members at that
    moment are the recipients; who joins a department later is not added."""

    __tablename__ = "acknowledgement"
    __entity__ = "acknowledgement"
    __label__ = "Ознакомление"
    __choice_labels__ = {"status": STATUS_LABELS}

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    title: Mapped[str] = mapped_column(String(TITLE_MAX), nullable=False)
    description: Mapped[str] = mapped_column(Text, nullable=False, default="")
    link: Mapped[str | None] = mapped_column(String(LINK_MAX), nullable=True)
    deadline: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False)
    author_id: Mapped[int] = mapped_column(Integer, ForeignKey("ab_user.id"), nullable=False,
                                           index=True)
    status: Mapped[str] = mapped_column(String(16), nullable=False,
                                        default=AcknowledgementStatus.open.value, index=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False, default=utcnow,
                                                    index=True)
    closed_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)

    author = relationship("CrmUser", foreign_keys=[author_id])
    departments = relationship("Department", secondary=acknowledgement_department,
                               order_by="Department.name")
    recipients = relationship("AcknowledgementRecipient", back_populates="acknowledgement",
                              cascade="all, delete-orphan",
                              order_by="AcknowledgementRecipient.id")

    @validates("link")
    def _check_link(self, _key, value):
        # The service refuses a bad link with its message first; this keeps any other
        # path from storing an href that is not http(s).
        value = (value or "").strip() or None
        if link_error(value):
            raise ValueError(BAD_LINK)
        return value

    @property
    def is_open(self) -> bool:
        return self.status == AcknowledgementStatus.open.value

    @property
    def status_label(self) -> str:
        return STATUS_LABELS.get(self.status, self.status)

    def __str__(self) -> str:
        return self.title or f"Ознакомление №{self.id}"


class AcknowledgementRecipient(Model):
    """One person who must confirm; `confirmed_at` is set once, by that person."""

    __tablename__ = "acknowledgement_recipient"
    __table_args__ = (UniqueConstraint("acknowledgement_id", "user_id",
                                       name="uq_acknowledgement_recipient"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    acknowledgement_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("acknowledgement.id", ondelete="CASCADE"), nullable=False)
    # «My documents» look recipients up by person.
    user_id: Mapped[int] = mapped_column(Integer, ForeignKey("ab_user.id"), nullable=False,
                                         index=True)
    confirmed_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)

    acknowledgement = relationship(Acknowledgement, back_populates="recipients")
    user = relationship("CrmUser", foreign_keys=[user_id])

    @property
    def is_confirmed(self) -> bool:
        return self.confirmed_at is not None
