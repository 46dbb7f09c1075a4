"""Effects on who is responsible: `assign` a member of a role."""
from __future__ import annotations

from sqlalchemy import inspect as sa_inspect

from app.extensions import db
from errors import CrmError
from models.user import CrmUser
from process.effects.context import EffectContext
from process.people import least_busy, users_with_role
from rules.engine import Effect


def assign(ctx: EffectContext, effect: Effect) -> None:
    """`strategy: actor`: the member of the role who acted (accepted the request) becomes
    responsible; otherwise the member with the fewest open tasks."""
    record, actor_id = ctx.record, ctx.actor_id
    members = users_with_role(effect.params["role"])
    if effect.params.get("strategy") == "actor":
        if actor_id in {u.id for u in members}:
            set_responsible(record, actor_id)
            return
        if getattr(record, "responsible_id", None):
            return  # accepted on someone's behalf: the responsible already set stays
    user_id = least_busy(members)
    if user_id is None:
        raise CrmError(f"Некого назначить ответственным: в роли «{effect.params['role']}» "
                       "нет активных пользователей")
    set_responsible(record, user_id)


def set_responsible(record, user_id: int) -> None:
    """Both the id and the relationship: what is read next (a letter naming the manager,
    the record page) must see the new person, not the one loaded before."""
    record.responsible_id = user_id
    if "responsible" in sa_inspect(type(record)).relationships:
        record.responsible = db.session.get(CrmUser, user_id)
