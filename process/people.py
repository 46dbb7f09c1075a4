"""Who a definition's person spec means for a record: the responsible, the actor, a role's
least busy member, the responsible's department head, a named user, a field's user, or the
employee a person picked for a «на основании» action."""
from __future__ import annotations

import contextvars
from functools import cache

from flask_appbuilder.security.sqla.models import Role, User
from sqlalchemy import bindparam, func, select

from app.extensions import db
from models.task import OPEN_TASK_STATUSES, Task
from models.user import CrmUser, Department
from process.snapshot import record_values
from process.txcache import TransactionCache

# The user a person picked for a `{chosen: role}` spec of a «на основании» action.
CHOSEN: contextvars.ContextVar[int | None] = contextvars.ContextVar("crm_chosen", default=None)


# The active members of a role by its name: one move asks for several roles' members, a
# «на основании» or an outcome the same roles again.
_MEMBERS = TransactionCache("role_members", (User, Role),
                            frozenset({"ab_user", "ab_role", "ab_user_role"}))


def users_with_role(role: str) -> list:
    return list(_MEMBERS.get(role, lambda: list(db.session.scalars(
        _members_query(), {"role": role}))))


@cache
def _members_query():
    return select(CrmUser).join(CrmUser.roles).where(
        Role.name == bindparam("role"), CrmUser.active.is_(True)).order_by(CrmUser.id)


@cache
def _open_task_counts_query():
    return select(Task.assignee_id, func.count(Task.id)).where(
        Task.assignee_id.in_(bindparam("ids", expanding=True)),
        Task.status.in_(OPEN_TASK_STATUSES)).group_by(Task.assignee_id)


def least_busy(users) -> int | None:
    """The member with the fewest open tasks (ties: the lowest id): work spreads evenly.

    The members' rows are locked first (PostgreSQL; SQLite has one writer anyway): two
    requests arriving together are counted one after the other, so they do not both go to
    the same person. NO KEY UPDATE, not UPDATE: the rows of this same request that point at
    the members (a notification to each manager) hold KEY SHARE locks on them, which a
    plain FOR UPDATE of the other request would deadlock with."""
    if not users:
        return None
    ids = [u.id for u in users]
    if db.session.get_bind().dialect.name == "postgresql":
        # key_share=True renders FOR NO KEY UPDATE
        db.session.execute(select(CrmUser.id).where(CrmUser.id.in_(ids))
                           .order_by(CrmUser.id).with_for_update(key_share=True))
    counts = dict(db.session.execute(_open_task_counts_query(), {"ids": ids}).all())
    return min(users, key=lambda u: (counts.get(u.id, 0), u.id)).id


def resolve_person(spec, record, actor_id) -> int | None:
    if spec in (None, "responsible"):
        return getattr(record, "responsible_id", None) or actor_id
    if spec == "actor":
        return actor_id
    (kind, arg), = spec.items()
    if kind == "role":
        return least_busy(users_with_role(arg))
    if kind == "department_head":
        responsible = db.session.get(CrmUser, getattr(record, "responsible_id", None) or 0)
        department = db.session.get(Department, responsible.department_id) \
            if responsible and responsible.department_id else None
        return department.head_id if department else None
    if kind == "user":
        return db.session.scalar(select(CrmUser.id).where(CrmUser.username == arg))
    if kind == "field":
        return record_values(record).get(arg)
    if kind == "chosen":
        return CHOSEN.get()
    return None


def resolve_people(specs, record, actor_id) -> list[int]:
    out = []
    for spec in specs or []:
        if isinstance(spec, dict) and "role" in spec:
            ids = [u.id for u in users_with_role(spec["role"])]
        else:
            ids = [resolve_person(spec, record, actor_id)]
        out += [i for i in ids if i and i not in out]
    return out
