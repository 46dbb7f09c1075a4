"""Installed process definitions (every version kept) and the stage history of records."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import (Boolean, DateTime, ForeignKey, Integer, String, Text,
                        UniqueConstraint)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models.base import Model, utcnow


class ProcessVersion(Model):
    """One installed version of a definition (YAML text as uploaded). Exactly one version per
    process key is active; a refused upload leaves no row."""

    __tablename__ = "process_version"
    __table_args__ = (UniqueConstraint("process_key", "version",
                                       name="uq_process_version_key_version"),)
    __entity__ = "process_version"
    __label__ = "Версия процесса"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    process_key: Mapped[str] = mapped_column(String(64), nullable=False, index=True)
    version: Mapped[int] = mapped_column(Integer, nullable=False)
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    entity: Mapped[str] = mapped_column(String(16), nullable=False)
    filename: Mapped[str] = mapped_column(String(200), nullable=False)
    source: Mapped[str] = mapped_column(Text, nullable=False)
    sha256: Mapped[str] = mapped_column(String(64), nullable=False)
    active: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True, index=True)
    installed_at: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False, default=utcnow)
    installed_by_id: Mapped[int | None] = mapped_column(Integer, ForeignKey("ab_user.id"))
    pipeline_id: Mapped[int | None] = mapped_column(Integer, ForeignKey("pipeline.id"))

    installed_by = relationship("CrmUser", foreign_keys=[installed_by_id])
    pipeline = relationship("Pipeline")

    def __str__(self) -> str:
        return f"{self.name} (версия {self.version})"


class StageHistory(Model):
    """Each entry into a stage and its exit, with the actor and the transition: time spent
    per stage is `left_at - entered_at`."""

    __tablename__ = "stage_history"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    entity: Mapped[str] = mapped_column(String(32), nullable=False, index=True)
    record_id: Mapped[int] = mapped_column(Integer, nullable=False, index=True)
    process_key: Mapped[str] = mapped_column(String(64), nullable=False)
    stage_key: Mapped[str] = mapped_column(String(64), nullable=False)
    stage_name: Mapped[str] = mapped_column(String(200), nullable=False)
    entered_at: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False, default=utcnow)
    left_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    entered_by_id: Mapped[int | None] = mapped_column(Integer, ForeignKey("ab_user.id"))
    left_by_id: Mapped[int | None] = mapped_column(Integer, ForeignKey("ab_user.id"))
    transition_id: Mapped[str] = mapped_column(String(64), nullable=False, index=True)
    source: Mapped[str | None] = mapped_column(String(32))  # form / api / bulk / task / job
    deadline_at: Mapped[dt.datetime | None] = mapped_column(DateTime)

    entered_by = relationship("CrmUser", foreign_keys=[entered_by_id])
    left_by = relationship("CrmUser", foreign_keys=[left_by_id])
