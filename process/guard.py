"""The safety net under the service: a stage column changes only through `transition()`
(a direct write is refused at flush), and a save may not change the fields a stage makes
read-only."""
from __future__ import annotations

from functools import cache

from sqlalchemy import bindparam, event, inspect as sa_inspect, select
from sqlalchemy.orm import Session

from app.extensions import db
from errors import FieldErrors, TransitionNotAllowed
from models.pipeline import Stage
from process.snapshot import (
    STAGE_ATTR, _key, committed_stage, entity_of, is_process_record, old_values, process_of,
    record_values,
)
from rules.engine import readonly_fields


def _allowed(session: Session) -> set:
    return session.info.setdefault("crm_stage_moves", set())


def set_stage(record, to_key: str) -> None:
    """The one write of a stage column, made by the service; the flush lets it through."""
    attr = STAGE_ATTR[entity_of(record)]
    if attr == "stage":
        stage = db.session.scalar(_stage_query(), {"pipeline_id": record.pipeline_id,
                                                   "key": to_key})
        if stage is None:
            raise TransitionNotAllowed(f"В воронке нет этапа «{to_key}»")
        record.stage = stage
    else:
        setattr(record, attr, to_key)
    _allowed(db.session).add(id(record))


@cache
def _stage_query():
    return select(Stage).where(Stage.pipeline_id == bindparam("pipeline_id"),
                               Stage.key == bindparam("key"))


def _refuse_stage_writes(session: Session, _context, _instances) -> None:
    allowed = _allowed(session)
    for obj in session.dirty:
        if not is_process_record(obj) or id(obj) in allowed:
            continue
        state = sa_inspect(obj)
        attr = STAGE_ATTR[entity_of(obj)]
        names = (attr, "stage_id") if attr == "stage" else (attr,)
        added = [state.attrs[n].history.added for n in names]
        if not any(added):
            continue
        new = next(_key(a[0]) if n == attr else a[0] for n, a in zip(names, added) if a)
        column = "stage_id" if attr == "stage" else attr
        with session.no_autoflush:
            stored = session.execute(select(getattr(type(obj), column))
                                     .where(type(obj).id == obj.id)).scalar()
        if attr == "stage" and isinstance(new, str):
            new_id = getattr(state.attrs["stage"].history.added[0], "id", None)
            changed = new_id != stored
        else:
            changed = new != stored
        if changed:
            raise TransitionNotAllowed(
                "Этап записи меняется только переходом по процессу (форма, API или "
                "действие процесса), а не прямой записью в базу")


def _forget_allowed(session: Session, _context) -> None:
    session.info.pop("crm_stage_moves", None)


def install() -> None:
    """Called once by app.listeners.install()."""
    event.listen(Session, "before_flush", _refuse_stage_writes)
    event.listen(Session, "after_flush_postexec", _forget_allowed)


def readonly_now(record, stage_key: str | None = ..., values: dict | None = None) -> tuple:
    """Fields a person may not change on the record's (stored) stage, by its process."""
    process = process_of(record)
    if stage_key is ...:
        stage_key = committed_stage(record)
    if process is None or stage_key is None:
        return ()
    try:
        process.stage(stage_key)
    except KeyError:
        return ()
    return readonly_fields(process, stage_key,
                           values if values is not None else old_values(record))


def _same(a, b) -> bool:
    empty = (None, "", [], {})
    if a in empty and b in empty and not isinstance(a, bool) and not isinstance(b, bool):
        return True
    return a == b


def refuse_readonly_changes(record, stage_key: str | None = ...) -> None:
    """A save (form or API) may not change a field read-only on the stored stage: refused
    with a Russian message at that field, nothing saved (the caller rolls back)."""
    state = sa_inspect(record)
    if state.transient or state.pending or not is_process_record(record):
        return
    if stage_key is ...:
        stage_key = committed_stage(record)
    before = old_values(record)
    fields = readonly_now(record, stage_key, before)
    if not fields:
        return
    after = record_values(record)
    process = process_of(record)
    stage_name = process.stage(stage_key).name
    errors = {}
    for name in fields:
        if not _same(before.get(name), after.get(name)):
            label = process.labels.get(name, name)
            errors[name] = f"Поле «{label}» нельзя менять на этапе «{stage_name}»"
    if errors:
        raise FieldErrors(errors)
