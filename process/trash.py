"""The recycle bin («Корзина»): a deleted record goes there with its tasks and files, the
admin restores it within TRASH_RETENTION_DAYS or purges it, and a daily schedule row purges
what is older (files from the disk included). Each step writes audit rows with the user.

The bin's rows are changed by statements on the tables, not through the ORM: moving a record
to the bin is no edit of it (no version bump, no stage guard, no "update" in the audit log),
and the statements see binned rows, which ORM queries do not (models/trash.py).

Links between business records (a deal's company, a contact of a deal, a lead converted
into a deal) keep the bin consistent: a record that live records point at is not binned
(today's refusal on PostgreSQL, now in Russian and on every database); a record is not
restored while a record it points at is in the bin; a batch is not purged while a record
outside it points at it."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from functools import lru_cache

from sqlalchemy import delete, select, update
from sqlalchemy.orm import RelationshipDirection

from app.attachments import discard_after_commit
from app.extensions import db
from errors import CrmError
from models.attachment import Attachment
from models.audit import AuditLog
from models.base import Model, TrashableMixin, TrashChildMixin, utcnow
from models.brief import Brief
from models.client_link import ClientLink
from models.document import Document, DocumentVersion
from models.outbox import OutboxMessage, OutboxStatus
from models.payment import ReceivedPayment
from models.process import StageHistory
from models.registry import entity_label, model_for
from models.schedule import ScheduledAction, ScheduleStatus
from models.task import Task
from models.timeline import TimelineEntry
from models.trash import PURGE, RESTORE, SHOW_BINNED, TRASH, TrashBatch, retention_days
from process.catalog import plural

MOVED = "Запись перемещена в корзину"
PURGE_JOB_KEY = "trash:purge"
PURGE_JOB_ACTION = "trash_purge"
# The jobs a binned record holds back: those that had not run yet.
_HELD_STATUSES = {
    ScheduledAction: (ScheduleStatus.pending.value, ScheduleStatus.enqueued.value),
    OutboxMessage: (OutboxStatus.pending.value, OutboxStatus.enqueued.value),
}
_NAMED = 3  # how many blocking records a refusal names


class TrashRefused(CrmError):
    http_status = 409


class NotInTrash(CrmError):
    http_status = 404

    def __init__(self, message: str = "Этой записи нет в корзине: её уже восстановили или "
                                      "удалили навсегда"):
        super().__init__(message)


def is_trashable(model) -> bool:
    return isinstance(model, type) and issubclass(model, TrashableMixin)


# --- links between records ------------------------------------------------------------------

@dataclass(frozen=True)
class Link:
    """Rows of `owner` point at rows of `target`: `owner_col` and `target_col` are the two
    ends as table columns (a foreign key, a link table, or a child row of the owner)."""

    owner: type
    target: type
    owner_col: object
    target_col: object


@lru_cache(maxsize=1)
def links() -> tuple[Link, ...]:
    """Every many-to-one or many-to-many relationship from a binnable record (or a child row
    of one) to a binnable record, read from the mappers."""
    out = []
    for mapper in Model.registry.mappers:
        cls = mapper.class_
        for rel in mapper.relationships:
            target = rel.mapper.class_
            if not is_trashable(target) or rel.direction not in (
                    RelationshipDirection.MANYTOONE, RelationshipDirection.MANYTOMANY):
                continue
            if is_trashable(cls):
                owner = cls
                if rel.secondary is not None:
                    owner_col = rel.synchronize_pairs[0][1]
                    target_col = rel.secondary_synchronize_pairs[0][1]
                else:
                    owner_col, (target_col,) = mapper.local_table.c.id, rel.local_columns
            elif issubclass(cls, TrashChildMixin) and rel.key != cls.__trash_parent__:
                parent = mapper.relationships[cls.__trash_parent__]
                owner = parent.mapper.class_
                (owner_col,), (target_col,) = parent.local_columns, rel.local_columns
            else:
                continue
            out.append(Link(owner, target, owner_col, target_col))
    return tuple(out)


def _referrers(model, ids) -> list[tuple[type, int, int | None]]:
    """(owner model, id, its batch or None) of every record pointing at rows `ids`."""
    found = []
    for link in links():
        if link.target is not model:
            continue
        table = link.owner.__table__
        pointing = select(link.owner_col).where(link.target_col.in_(ids))
        for row_id, batch_id in db.session.execute(
                select(table.c.id, table.c.trash_batch_id).where(table.c.id.in_(pointing))
                .order_by(table.c.id)):
            found.append((link.owner, row_id, batch_id))
    return found


def _targets(model, ids) -> list[tuple[type, int, int | None]]:
    """(target model, id, its batch or None) of every record rows `ids` point at."""
    found = []
    for link in links():
        if link.owner is not model:
            continue
        table = link.target.__table__
        pointed = select(link.target_col).where(link.owner_col.in_(ids))
        for row_id, batch_id in db.session.execute(
                select(table.c.id, table.c.trash_batch_id).where(table.c.id.in_(pointed))
                .order_by(table.c.id)):
            found.append((link.target, row_id, batch_id))
    return found


def _points(rows) -> str:
    """"ссылается сделка «Поставка»" or "ссылаются сделка «…», заказ «…»"."""
    return f"{'ссылается' if len(rows) == 1 else 'ссылаются'} {_named(rows)}"


def _named(rows) -> str:
    """"сделка «Поставка», контакт «Иванов Иван»" for the first few, "и ещё N" after."""
    names = []
    for model, row_id, _batch in rows[:_NAMED]:
        record = db.session.get(model, row_id, execution_options=SHOW_BINNED)
        names.append(f"{model.__label__.lower()} «{record if record is not None else row_id}»")
    rest = len(rows) - _NAMED
    return ", ".join(names) + (f" и ещё {rest}" if rest > 0 else "")


# --- members of a batch ---------------------------------------------------------------------

def _tasks_of(entity: str, ids) -> list:
    return list(db.session.scalars(select(Task).where(
        Task.record_entity == entity, Task.record_id.in_(ids)).order_by(Task.id)))


def _files_of(entity: str, ids) -> list:
    return list(db.session.scalars(select(Attachment).where(
        Attachment.entity == entity, Attachment.record_id.in_(ids)).order_by(Attachment.id)))


def _new_members(record) -> dict[type, list]:
    """The record, its tasks and the files of both: what one deletion moves to the bin."""
    entity = type(record).__entity__
    members: dict[type, list] = {type(record): [record]}
    tasks = [t for t in _tasks_of(entity, [record.id]) if t is not record]
    if tasks:
        members.setdefault(Task, []).extend(tasks)
    files = _files_of(entity, [record.id]) + _files_of("task", [t.id for t in tasks])
    if files:
        members.setdefault(Attachment, []).extend(files)
    return members


def _batch_members(batch: TrashBatch) -> dict[type, list]:
    members: dict[type, list] = {}
    for model in _trashable_models():
        rows = list(db.session.scalars(select(model).where(model.trash_batch_id == batch.id)
                                       .order_by(model.id).execution_options(**SHOW_BINNED)))
        if rows:
            members[model] = rows
    return members


@lru_cache(maxsize=1)
def _trashable_models() -> tuple[type, ...]:
    return tuple(m.class_ for m in Model.registry.mappers if is_trashable(m.class_))


def _summary(members: dict[type, list], main: type) -> str:
    """"2 задачи, 1 файл": what went to the bin with the record."""
    tasks = len(members.get(Task, [])) - (1 if main is Task else 0)
    files = len(members.get(Attachment, []))
    parts = []
    if tasks:
        parts.append(f"{tasks} {plural(tasks, ('задача', 'задачи', 'задач'))}")
    if files:
        parts.append(f"{files} {plural(files, ('файл', 'файла', 'файлов'))}")
    return ", ".join(parts)


def _each_member(members: dict[type, list]):
    for model, rows in members.items():
        for row in rows:
            yield model, row


# --- moving to the bin ----------------------------------------------------------------------

def move_to_bin(record, user_id: int | None = None) -> TrashBatch:
    """Hides the record, its tasks and their files in one new batch and holds their jobs.
    The caller commits. TrashRefused when live records point at it."""
    model = type(record)
    live = [r for r in _referrers(model, [record.id]) if r[2] is None]
    if live:
        # Only contacts, counterparties and leads are pointed at: "на него" fits them all.
        raise TrashRefused(f"{model.__label__} «{record}» нельзя удалить: на него "
                           f"{_points(live)}. Сначала удалите эти записи или уберите из них "
                           "ссылку.")
    members = _new_members(record)
    now = utcnow()
    batch = TrashBatch(entity=model.__entity__, record_id=record.id,
                       title=(str(record) or f"№ {record.id}")[:300],
                       summary=_summary(members, model), deleted_at=now,
                       deleted_by_id=user_id or None)
    db.session.add(batch)
    db.session.flush()
    # The record first: of two deletions at once, the second finds it gone.
    if _mark(model, [record.id], batch.id, now) != 1:
        raise NotInTrash("Запись не найдена: возможно, её уже удалили")
    for member_model, rows in members.items():
        _mark(member_model, [r.id for r in rows if r is not record], batch.id, now)
    _hold_jobs(members, batch.id)
    _audit(TRASH, members, batch, user_id, now)
    _expire(members)
    return batch


def _mark(model, ids, batch_id: int, now: dt.datetime) -> int:
    if not ids:
        return 0
    table = model.__table__
    values = {"deleted_at": now, "trash_batch_id": batch_id}
    if "updated_at" in table.c:
        values["updated_at"] = table.c.updated_at  # the bin is no edit of the record
    return db.session.execute(update(table).where(table.c.id.in_(ids),
                                                  table.c.deleted_at.is_(None))
                              .values(**values)).rowcount


def _hold_jobs(members: dict[type, list], batch_id: int) -> None:
    """Reminders, deadlines and messages of the binned records wait: the scheduler skips a
    row that names a batch."""
    for model, rows in members.items():
        ids = [r.id for r in rows]
        for job, statuses in _HELD_STATUSES.items():
            table = job.__table__
            db.session.execute(update(table).where(
                table.c.entity == model.__entity__, table.c.record_id.in_(ids),
                table.c.status.in_(statuses), table.c.trash_batch_id.is_(None))
                .values(trash_batch_id=batch_id))


def _expire(members: dict[type, list]) -> None:
    for _model, row in _each_member(members):
        db.session.expire(row)


# --- restoring ------------------------------------------------------------------------------

def get_batch(batch_id: int) -> TrashBatch:
    """The batch, locked on PostgreSQL against a restore and a purge at the same moment."""
    query = select(TrashBatch).where(TrashBatch.id == batch_id)
    if db.engine.dialect.name == "postgresql":
        query = query.with_for_update()
    batch = db.session.scalar(query)
    if batch is None:
        raise NotInTrash()
    return batch


def restore(batch_id: int, user_id: int | None = None) -> TrashBatch:
    """Brings the batch back as it was (same ids, history, links, jobs). The caller
    commits. TrashRefused after the retention period or while a record it points at is
    itself in the bin."""
    batch = get_batch(batch_id)
    if utcnow() >= batch.purge_at:
        raise TrashRefused(f"{batch}: срок хранения в корзине ({retention_days()} дн.) "
                           "истёк, восстановить запись нельзя")
    members = _batch_members(batch)
    _refuse_binned_parents(batch, members)
    now = utcnow()
    main = model_for(batch.entity)
    if main is None or _unmark(main, [batch.record_id], batch.id) != 1:
        raise NotInTrash()
    for model, rows in members.items():
        _unmark(model, [r.id for r in rows], batch.id)
    _release_jobs(batch.id)
    _audit(RESTORE, members, batch, user_id, now)
    _drop_batch(batch)
    _expire(members)
    return batch


def _refuse_binned_parents(batch: TrashBatch, members: dict[type, list]) -> None:
    elsewhere = []
    for model, rows in members.items():
        elsewhere += [t for t in _targets(model, [r.id for r in rows])
                      if t[2] is not None and t[2] != batch.id]
    if elsewhere:
        raise TrashRefused(f"{batch} ссылается на то, что тоже в корзине. Сначала "
                           f"восстановите из корзины: {_named(elsewhere)}")
    for task in members.get(Task, []):
        _refuse_gone_record(batch, task)


def _refuse_gone_record(batch: TrashBatch, task) -> None:
    """A task comes back only to a record that is there to hold it."""
    if not task.record_entity or task.record_id is None:
        return
    model = model_for(task.record_entity)
    record = db.session.get(model, task.record_id, execution_options=SHOW_BINNED) \
        if model is not None else None
    if record is None:
        raise TrashRefused(f"{batch}: запись, к которой относится задача «{task}», удалена "
                           "навсегда")
    if getattr(record, "trash_batch_id", None) not in (None, batch.id):
        raise TrashRefused(f"{batch}: задача относится к записи, которая тоже в корзине. "
                           f"Сначала восстановите из корзины: {model.__label__.lower()} "
                           f"«{record}»")


def _unmark(model, ids, batch_id: int) -> int:
    if not ids:
        return 0
    table = model.__table__
    values = {"deleted_at": None, "trash_batch_id": None}
    if "updated_at" in table.c:
        values["updated_at"] = table.c.updated_at
    return db.session.execute(update(table).where(table.c.id.in_(ids),
                                                  table.c.trash_batch_id == batch_id)
                              .values(**values)).rowcount


def _release_jobs(batch_id: int) -> None:
    """Held rows are due again. One whose time passed while the record was in the bin runs
    at the scheduler's next pass, as after downtime (a repeat then goes on from now)."""
    for job in _HELD_STATUSES:
        table = job.__table__
        db.session.execute(update(table).where(table.c.trash_batch_id == batch_id)
                           .values(trash_batch_id=None, status="pending", enqueued_at=None))


def _drop_batch(batch: TrashBatch) -> None:
    table = TrashBatch.__table__
    if db.session.execute(delete(table).where(table.c.id == batch.id)).rowcount != 1:
        raise NotInTrash()
    db.session.expunge(batch)


# --- purging --------------------------------------------------------------------------------

def purge(batch_id: int, user_id: int | None = None) -> TrashBatch:
    """Deletes the batch's rows for real: the records, their child rows, history and
    timeline, their files (from the disk once the caller commits). Held jobs are cancelled.
    TrashRefused while a record outside the batch points at one of its records."""
    batch = get_batch(batch_id)
    members = _batch_members(batch)
    _refuse_referenced(batch, members)
    now = utcnow()
    _audit(PURGE, members, batch, user_id, now)
    files = [a.storage_name for a in members.get(Attachment, [])]
    for model, rows in members.items():
        _delete_papers(getattr(model, "__entity__", ""), [r.id for r in rows])
    for model, rows in members.items():
        _delete_rows(model, [r.id for r in rows], batch.id)
    _cancel_jobs(batch.id, now)
    _drop_batch(batch)
    for _model, row in _each_member(members):
        db.session.expunge(row)
    discard_after_commit(db.session, files)
    return batch


def _refuse_referenced(batch: TrashBatch, members: dict[type, list]) -> None:
    outside = []
    for model, rows in members.items():
        outside += [r for r in _referrers(model, [row.id for row in rows]) if r[2] != batch.id]
    if outside:
        raise TrashRefused(f"{batch}: на запись {_points(outside)}. Сначала удалите "
                           "навсегда или восстановите и измените эти записи.")


def _delete_rows(model, ids, batch_id: int) -> None:
    """The rows, what the database would cascade from them (line items, link rows,
    observers: deleted explicitly, SQLite does not enforce foreign keys), and what names
    them by (entity, id): the timeline and the stage history."""
    table = model.__table__
    for dependent, column in _cascading(table):
        db.session.execute(delete(dependent).where(column.in_(ids)))
    for history in (TimelineEntry.__table__, StageHistory.__table__):
        db.session.execute(delete(history).where(history.c.entity == model.__entity__,
                                                 history.c.record_id.in_(ids)))
    db.session.execute(delete(table).where(table.c.id.in_(ids),
                                           table.c.trash_batch_id == batch_id))


def _delete_papers(entity: str, ids) -> None:
    """The generated documents of the records (their files are members of the batch and go
    with them), their versions, the client's links and briefs, and the payments received
    for them: first, as they point at the files and the records. Outbox rows that rendered
    a version keep their history without it."""
    documents = select(Document.id).where(Document.entity == entity,
                                          Document.record_id.in_(ids))
    versions = select(DocumentVersion.id).where(DocumentVersion.document_id.in_(documents))
    db.session.execute(update(OutboxMessage).where(
        OutboxMessage.document_version_id.in_(versions)).values(document_version_id=None))
    db.session.execute(delete(ClientLink).where(ClientLink.entity == entity,
                                                ClientLink.record_id.in_(ids)))
    db.session.execute(delete(Brief).where(Brief.entity == entity, Brief.record_id.in_(ids)))
    db.session.execute(delete(ReceivedPayment).where(ReceivedPayment.document_id.in_(documents)))
    db.session.execute(delete(DocumentVersion).where(DocumentVersion.id.in_(versions)))
    db.session.execute(delete(Document).where(Document.id.in_(documents)))


def _cascading(table) -> list:
    """(table, column) of every foreign key to `table` declared ON DELETE CASCADE."""
    return [(other, fk.parent) for other in Model.metadata.sorted_tables
            for fk in other.foreign_keys
            if fk.column.table is table and (fk.ondelete or "").upper() == "CASCADE"]


def _cancel_jobs(batch_id: int, now: dt.datetime) -> None:
    for job in _HELD_STATUSES:
        table = job.__table__
        values = {"trash_batch_id": None, "status": "cancelled",
                  "last_error": "Запись удалена из корзины навсегда", "enqueued_at": None}
        if "done_at" in table.c:
            values["done_at"] = now
        db.session.execute(update(table).where(table.c.trash_batch_id == batch_id)
                           .values(**values))


def expired_batch_ids(now: dt.datetime | None = None) -> list[int]:
    """Batches past the retention period, the oldest first: a record that pointed at
    another was binned before it (the other could not be binned while it was live), so it
    goes first and frees the other in the same pass."""
    cutoff = (now or utcnow()) - dt.timedelta(days=retention_days())
    return list(db.session.scalars(select(TrashBatch.id).where(TrashBatch.deleted_at <= cutoff)
                                   .order_by(TrashBatch.deleted_at, TrashBatch.id)))


def purge_expired(now: dt.datetime | None = None,
                  user_id: int | None = None) -> tuple[int, list[str]]:
    """Purges every expired batch, each in a savepoint of its own; returns (purged, the
    refusals in words). The caller commits."""
    purged, refused = 0, []
    for batch_id in expired_batch_ids(now):
        try:
            with db.session.begin_nested():
                purge(batch_id, user_id)
            purged += 1
        except CrmError as exc:
            refused.append(exc.message)
    return purged, refused


def ensure_purge_scheduled() -> bool:
    """The daily purge is a schedule row that puts itself forward after each run
    (jobs/actions.py); True when it had to be created."""
    exists = db.session.scalar(select(ScheduledAction.id)
                               .where(ScheduledAction.effect_key == PURGE_JOB_KEY))
    if exists is not None:
        return False
    db.session.add(ScheduledAction(action=PURGE_JOB_ACTION, params={}, due_at=utcnow(),
                                   effect_key=PURGE_JOB_KEY))
    return True


# --- audit ----------------------------------------------------------------------------------

def _audit(action: str, members: dict[type, list], batch: TrashBatch, user_id, now) -> None:
    """One row per record of the batch, with the user: who deleted, restored, purged."""
    main_model = model_for(batch.entity)
    part_of = f"{entity_label(batch.entity)} «{batch.title}»"
    pair = (lambda value: [None, value]) if action == TRASH else (lambda value: [value, None])
    rows = []
    for model, row in _each_member(members):
        main = model is main_model and row.id == batch.record_id
        changes = {"trash_batch_id": pair(batch.id)}
        if main and batch.summary:
            changes["with"] = pair(batch.summary)
        elif not main:
            changes["part_of"] = pair(part_of)
        rows.append({"at": now, "user_id": user_id or None, "action": action,
                     "entity": model.__entity__, "record_id": row.id,
                     "record_repr": str(row)[:300], "changes": changes})
    if rows:
        db.session.connection().execute(AuditLog.__table__.insert(), rows)
