"""The stage buttons of a record page: every stage of the record's process, enabled when the
transition service would accept the move, disabled with the reason when it would not (the
same answer the request gets), and the endpoint the buttons post to."""
from __future__ import annotations

from flask import abort, current_app, flash, redirect, request, url_for
from flask_appbuilder import BaseView, expose

from app import transitions
from app.extensions import db
from app.scope import can_see
from errors import CrmError
from models.base import acting_user
from models.registry import get_record


def _may_write(entity: str) -> bool:
    sm = current_app.appbuilder.sm
    return sm.has_access("can_write", entity)


def stage_buttons(entity: str, pk) -> list[dict]:
    """[{key, name, current, allowed, reason}] for the record page; [] without a process."""
    record = get_record(entity, pk)
    if record is None or not transitions.is_process_record(record) or not _may_write(entity):
        return []
    process = transitions.process_of(record)
    if process is None:
        return []
    current = transitions.current_stage(record)
    out = []
    for stage in process.stages:
        refusal = None if stage.key == current else transitions.may_move(record, stage.key)
        out.append({"key": stage.key, "name": stage.name, "current": stage.key == current,
                    "allowed": refusal is None, "reason": refusal.message if refusal else "",
                    "color": stage.color or "#9ca3af"})
    return out


def based_on_buttons(entity: str, pk) -> list[dict]:
    """[{key, label, role, users}] of the «на основании» actions open to this record now."""
    from rules.engine import manual_actions

    record = get_record(entity, pk)
    if record is None or not transitions.is_process_record(record) or not _may_write(entity):
        return []
    process = transitions.process_of(record)
    if process is None:
        return []
    out = []
    for key, label in manual_actions(process, transitions.record_values(record),
                                     transitions.current_stage(record)):
        role = transitions.chosen_role(process, key)
        users = [(u.id, str(u)) for u in transitions._users_with_role(role)] if role else []
        out.append({"key": key, "label": label, "role": role, "users": users})
    return out


class StageMoveView(BaseView):
    route_base = "/crm/move"
    default_view = "move"
    base_permissions: list[str] = []  # guarded by the entity's own write right, below

    @expose("/<entity>/<int:pk>", methods=["POST"])
    def move(self, entity: str, pk: int):
        stage = request.form.get("stage", "")

        def act(record):
            transitions.transition(record, stage, source="form")
            name = transitions.process_of(record).stage(stage).name
            return f"Запись переведена на этап «{name}»"

        return self._act_on(entity, pk, act)

    @expose("/<entity>/<int:pk>/based_on/<key>", methods=["POST"])
    def based_on(self, entity: str, pk: int, key: str):
        chosen = request.form.get("chosen", type=int)

        def act(record):
            count = transitions.create_based_on(record, key, chosen)
            return f"Создано на основании записи: {count}"

        return self._act_on(entity, pk, act)

    @staticmethod
    def _act_on(entity: str, pk: int, act):
        """Rights are the entity's own (write) and the row rule: no separate permission.
        `act(record)` changes the session and returns the message; one commit or rollback."""
        user = acting_user()
        if user is None:
            return redirect(url_for(current_app.appbuilder.sm.auth_view.endpoint + ".login"))
        record = get_record(entity, pk)
        if record is None or not transitions.is_process_record(record) \
                or not can_see(record, user):
            abort(404)
        if not _may_write(entity):
            abort(403)
        try:
            message = act(record)
            db.session.commit()
            flash(message, "success")
        except (CrmError, KeyError) as exc:
            db.session.rollback()
            flash(getattr(exc, "message", "Нет такого этапа"), "danger")
        return redirect(request.referrer or url_for("HomeView.index"))


def register_views(appbuilder):
    appbuilder.add_view_no_menu(StageMoveView)
    current_app.jinja_env.globals["crm_stage_buttons"] = stage_buttons
    current_app.jinja_env.globals["crm_based_on_buttons"] = based_on_buttons
