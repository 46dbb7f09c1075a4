"""What the last seed wrote, so that re-seeding never overwrites what an admin edited."""
from __future__ import annotations

from sqlalchemy import JSON, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Model, TimestampMixin


class SeedRecord(TimestampMixin, Model):
    __tablename__ = "seed_record"
    __table_args__ = (UniqueConstraint("kind", "key", name="uq_seed_record_kind_key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(64), nullable=False)
    key: Mapped[str] = mapped_column(String(200), nullable=False)
    value: Mapped[object] = mapped_column(JSON, nullable=True)
