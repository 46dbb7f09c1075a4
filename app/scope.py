"""Row rules: which records with a responsible person a user may see and change."""
from __future__ import annotations

from sqlalchemy import select

from app.access import user_scope
from app.extensions import db


def visible_user_ids(user) -> set[int] | None:
    """Ids of the users whose records `user` sees; None means every record."""
    if user is None or not getattr(user, "is_authenticated", False):
        return set()
    from models.user import CrmUser, Department

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


def scope_query(query, model, user):
    ids = visible_user_ids(user)
    if ids is None:
        return query
    if not ids:
        return query.filter(False)
    return query.filter(model.scope_clause(user.id, ids))


def can_see(record, user) -> bool:
    """The same rule for one record (attachments, comments, PDFs of a record)."""
    model = type(record)
    if not hasattr(model, "scope_clause"):
        return True
    ids = visible_user_ids(user)
    if ids is None:
        return True
    if not ids:
        return False
    stmt = select(model.id).where(model.id == record.id, model.scope_clause(user.id, ids))
    return db.session.scalar(stmt) is not None
