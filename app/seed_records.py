"""The seed's bookkeeping, shared by every seeder: what the seed wrote last time, kept by
stable keys in `seed_record`.

A seeder compares the record's current value with the one remembered here: equal means
nobody touched it since (the seed may update it); different means an admin changed it, and
re-seeding leaves it as the admin left it. A remembered row with no record means the admin
deleted it: it is not brought back."""
from __future__ import annotations

from sqlalchemy import select

from app.extensions import db
from models.seed import SeedRecord


def seed_record(kind: str, key: str) -> SeedRecord | None:
    """What the seed wrote last time under (kind, key), or None if it never wrote it."""
    return db.session.scalar(select(SeedRecord).where(SeedRecord.kind == kind,
                                                      SeedRecord.key == key))


def remember_seeded(kind: str, key: str, value) -> None:
    """Remembers `value` as what the seed wrote now under (kind, key)."""
    rec = seed_record(kind, key) or SeedRecord(kind=kind, key=key)
    rec.value = value
    db.session.add(rec)
