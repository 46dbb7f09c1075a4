"""Users (Flask-AppBuilder's ab_user, extended) and departments."""
from __future__ import annotations

import datetime as dt

from flask_appbuilder.security.sqla.models import User
from sqlalchemy import Boolean, DateTime, ForeignKey, Integer, String
from sqlalchemy import false as sa_false
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models.base import Model, TimestampMixin


class Department(TimestampMixin, Model):
    __tablename__ = "department"
    __entity__ = "department"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    name: Mapped[str] = mapped_column(String(200), unique=True, nullable=False)
    head_id: Mapped[int | None] = mapped_column(
        Integer, ForeignKey("ab_user.id", use_alter=True, name="fk_department_head"),
        nullable=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True, nullable=False)

    head = relationship("CrmUser", foreign_keys=[head_id], post_update=True)

    def __str__(self) -> str:
        return self.name


class CrmUser(User):
    """The FAB user with the office attributes approvals and row rules need."""

    __tablename__ = "ab_user"
    __entity__ = "user"

    position: Mapped[str | None] = mapped_column(String(128), nullable=True)
    phone: Mapped[str | None] = mapped_column(String(32), nullable=True)
    department_id: Mapped[int | None] = mapped_column(
        Integer, ForeignKey("department.id", use_alter=True, name="fk_ab_user_department"),
        nullable=True, index=True)

    # Notifications come in the app; with this on, a copy goes to the user's e-mail too.
    notify_email: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False,
                                               server_default=sa_false())

    # Too many wrong passwords in a row lock the sign-in until then (UTC); the admin may
    # lift it earlier (app/throttle.py). FAB's fail_login_count counts the attempts.
    login_locked_until: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    # Raised when the user logs out or a password changes: sessions and API tokens carry
    # the number they were issued under and stop working once it moves (app/sessions.py).
    auth_epoch: Mapped[int] = mapped_column(Integer, nullable=False, default=0,
                                            server_default="0")

    # «Заместитель»: who takes the user's approvals while the user is away
    # (process/absence.py: substitute_for). Two people are often each other's deputy.
    deputy_id: Mapped[int | None] = mapped_column(
        Integer, ForeignKey("ab_user.id", name="fk_ab_user_deputy", ondelete="SET NULL"),
        nullable=True)

    department = relationship(Department, foreign_keys=[department_id])
    deputy = relationship("CrmUser", foreign_keys=[deputy_id], remote_side="CrmUser.id",
                          post_update=True)

    @property
    def full_name(self) -> str:
        return f"{self.last_name} {self.first_name}".strip()

    @property
    def role_names(self) -> set[str]:
        return {r.name for r in self.roles}

    def __str__(self) -> str:
        return self.full_name or self.username
