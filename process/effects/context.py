"""What every effect handler is given: the record, its process, who acts and from where,
and the service's own `move` (so a handler that moves a record goes through the service
without importing it)."""
from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Callable

from sqlalchemy import bindparam, select

from app.extensions import db
from models.trash import SHOW_BINNED
from process.txcache import reading


@dataclass(frozen=True)
class EffectContext:
    record: object
    entity: str
    process: object  # rules.definition.ProcessDef
    actor_id: int | None
    source: str
    move: Callable  # move(record, to_key, from_key=...) through the transition service


def already_applied(model, effect_key: str) -> bool:
    """Effects are keyed: the same move, outcome or job applied twice writes nothing twice.
    A task or an event in the recycle bin holds its key too (a restore brings it back)."""
    return reading((model,), lambda: db.session.scalar(
        _applied_query(model), {"key": effect_key})) is not None


@cache
def _applied_query(model):
    """Built once per model (every effect runs it): the key is a parameter."""
    return select(model.id).where(model.effect_key == bindparam("key")) \
        .execution_options(**SHOW_BINNED)
