"""Row rules: which records with a responsible person a user may see and change.

Two modes. WRITE is the role's scope alone (own / department / all). READ adds two kinds of
readers the process brings: the participants of the record's current stage (roles a
definition names at that stage, e.g. the constructor at «Раскрой») and the assignees of the
record's open tasks. They see the record; changing it stays with the role's scope, except
the stage move a participant may make (`may_change_stage`)."""
from __future__ import annotations

from flask import current_app, has_request_context, request
from sqlalchemy import or_, select

from app.access import API_METHOD_RIGHTS, VIEW_METHOD_RIGHTS, user_scope
from app.extensions import db
from models.base import in_rows
from models.pipeline import Stage
from models.report import ReportTask
from models.task import Task, is_open_task
from models.user import CrmUser, Department
from process.catalog import participant_stages
from process.snapshot import STAGE_ATTR, current_stage

READ, WRITE = "read", "write"
_READ_METHODS = {name for name, right in {**VIEW_METHOD_RIGHTS, **API_METHOD_RIGHTS}.items()
                 if right == "read"}


def visible_user_ids(user) -> set[int] | None:
    """Ids of the users whose records `user` sees; None means every record."""
    if not _signed_in(user):
        return set()
    scope = user_scope(r.name for r in user.roles)
    if scope == "all":
        return None
    ids = {user.id}
    if scope == "department":
        # Only the departments the user heads: a member of a department who does not head it
        # sees no more than `own`, whatever the role says.
        headed = select(Department.id).where(Department.head_id == user.id)
        ids |= set(db.session.scalars(
            select(CrmUser.id).where(CrmUser.department_id.in_(headed))))
    return ids


def report_departments(user) -> set[int] | None:
    """The departments whose employees' reports `user` sees beside their own: those they
    head (Department.head, whatever the role); None: every department (scope `all` on the
    resource `report`)."""
    if not _signed_in(user):
        return set()
    if user_scope((r.name for r in user.roles), "report") == "all":
        return None
    return set(db.session.scalars(select(Department.id).where(Department.head_id == user.id)))


def report_clause(user, departments: set[int] | None):
    """The WHERE clause of the report rows (`ReportTask`) `user` sees, given what
    `report_departments(user)` answered; None: all."""
    if departments is None:
        return None
    if not _signed_in(user):
        return ReportTask.id.is_(None)
    mine = ReportTask.user_id == user.id
    return or_(mine, ReportTask.department_id.in_(departments)) if departments else mine


def request_mode() -> str:
    """READ for the screens and API calls that only show (list, page, export, GET), WRITE
    for everything else: an endpoint nobody classified is treated as a change."""
    if not has_request_context() or not request.endpoint:
        return WRITE
    return READ if request.endpoint.rsplit(".", 1)[-1] in _READ_METHODS else WRITE


def scope_query(query, model, user, mode: str = READ):
    clause = row_clause(model, user, mode)
    return query if clause is None else query.filter(clause)


def can_see(record, user, mode: str = READ) -> bool:
    """The same rule for one record (attachments, comments, PDFs of a record). Nobody sees
    a record in the recycle bin (the bin's own screen lists it)."""
    if getattr(record, "deleted_at", None) is not None:
        return False
    model = type(record)
    clause = row_clause(model, user, mode)
    if clause is None:
        return True
    stmt = select(model.id).where(model.id == record.id, clause)
    return db.session.scalar(stmt) is not None


def row_clause(model, user, mode: str = READ):
    """The WHERE clause of the rows `user` may see (READ) or change (WRITE); None: all."""
    if hasattr(model, "personal_clause"):
        return _personal_clause(model, user, mode)
    if not hasattr(model, "scope_clause"):
        return None
    ids = visible_user_ids(user)
    if ids is None:
        return None
    clauses = [model.scope_clause(user.id, ids)] if ids else []
    if mode == READ and _signed_in(user):
        clauses += _process_readers(model, user)
    return or_(*clauses) if clauses else model.id.is_(None)


def _personal_clause(model, user, mode: str):
    """Personal records (employees' requests): not the role's scope but the model's own rule,
    plus, for reading, whom the process reaches. The admin, who configures, sees all."""
    if not _signed_in(user):
        return model.id.is_(None)
    if current_app.config["AUTH_ROLE_ADMIN"] in _roles(user):
        return None
    clauses = [model.personal_clause(user, write=mode == WRITE)]
    if mode == READ:
        clauses += _process_readers(model, user)
    return or_(*clauses)


def _process_readers(model, user) -> list:
    entity = getattr(model, "__entity__", "")
    clauses = []
    attr = STAGE_ATTR.get(entity)
    if attr:
        for pipeline_id, keys in _participant_stages(entity, user).items():
            if attr == "stage":
                clauses.append(in_rows(model.stage_id, select(Stage.id).where(
                    Stage.pipeline_id == pipeline_id, Stage.key.in_(keys))))
            else:
                clauses.append(getattr(model, attr).in_(keys))
    if entity and entity != "task":
        clauses.append(in_rows(model.id, select(Task.record_id).where(
            Task.record_entity == entity, Task.assignee_id == user.id, is_open_task())))
    return clauses


def _participant_stages(entity: str, user) -> dict:
    """participant_stages() once per request: a page applies the rule to its count, its
    rows and the records they link to."""
    roles = frozenset(_roles(user))
    if not has_request_context():
        return participant_stages(entity, roles)
    known = request.environ.setdefault("crm.participant_stages", {})
    if (entity, roles) not in known:
        known[(entity, roles)] = participant_stages(entity, roles)
    return known[(entity, roles)]


def is_participant(record, user) -> bool:
    """`user` holds a role the definition names at the record's current stage."""
    entity = getattr(type(record), "__entity__", "")
    if entity not in STAGE_ATTR or not _signed_in(user):
        return False
    pipeline_id = getattr(record, "pipeline_id", None) if STAGE_ATTR[entity] == "stage" else None
    keys = participant_stages(entity, _roles(user)).get(pipeline_id, ())
    return current_stage(record) in keys


def may_change_stage(record, user) -> bool:
    """Who may move the record on: a writer of the entity within the role's own scope, or a
    participant of the stage the record is at (who may only read it otherwise)."""
    entity = getattr(type(record), "__entity__", "")
    if current_app.appbuilder.sm.has_access("can_write", entity) and can_see(record, user,
                                                                             WRITE):
        return True
    return current_app.appbuilder.sm.has_access("can_read", entity) and \
        is_participant(record, user)


def _signed_in(user) -> bool:
    return user is not None and bool(getattr(user, "is_authenticated", False))


def _roles(user) -> set[str]:
    return {r.name for r in user.roles}
