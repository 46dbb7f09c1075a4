"""The stage buttons of a record page: every stage of the record's process, enabled when the
transition service would accept the move, disabled with the reason when it would not (the
same answer the request gets), and the endpoint the buttons post to."""
from __future__ import annotations

from flask import abort, current_app, flash, redirect, request, url_for
from flask_appbuilder import BaseView, expose

from process import service
from process.people import users_with_role
from process.snapshot import current_stage, is_process_record, process_of, record_values
from app.extensions import db
from app.scope import WRITE, can_see, may_change_stage
from errors import CrmError
from models.base import acting_user
from models.registry import get_record
from rules.engine import manual_actions, why_not
from views.errors import refusing_database_errors


def _may_write(record) -> bool:
    entity = type(record).__entity__
    return bool(current_app.appbuilder.sm.has_access("can_write", entity)) and \
        can_see(record, acting_user(), WRITE)


def record_context(entity: str, pk) -> dict | None:
    """What a record page needs of its process, built once per request: the record, its
    process, its values, its stage, the stage buttons and the «на основании» actions. None
    when the record has no process or the user may not change it."""
    cache = request.environ.setdefault("crm.record_context", {})  # this request's only
    if (entity, pk) not in cache:
        cache[(entity, pk)] = _build_context(entity, pk)
    return cache[(entity, pk)]


def _build_context(entity: str, pk) -> dict | None:
    record = get_record(entity, pk)
    if record is None or not is_process_record(record):
        return None
    may_move = may_change_stage(record, acting_user())
    if not may_move:
        return None
    process = process_of(record)
    if process is None:
        return None
    values = record_values(record)
    current = current_stage(record)
    stages = []
    for stage in process.stages:
        refusal = None if stage.key == current else why_not(process, current, stage.key,
                                                             values)
        stages.append({"key": stage.key, "name": stage.name, "current": stage.key == current,
                       "allowed": refusal is None, "reason": refusal.message if refusal else "",
                       "color": stage.color or "#9ca3af"})
    based_on = []
    # «На основании» creates records of the writer's own: a participant only moves the stage.
    for key, label in manual_actions(process, values, current) if _may_write(record) else ():
        role = service.chosen_role(process, key)
        users = [(u.id, str(u)) for u in users_with_role(role)] if role else []
        based_on.append({"key": key, "label": label, "role": role, "users": users})
    return {"record": record, "process": process, "values": values, "stage": current,
            "stages": stages, "based_on": based_on}


def stage_buttons(entity: str, pk) -> list[dict]:
    """[{key, name, current, allowed, reason}] for the record page; [] without a process."""
    context = record_context(entity, pk)
    return context["stages"] if context else []


def based_on_buttons(entity: str, pk) -> list[dict]:
    """[{key, label, role, users}] of the «на основании» actions open to this record now."""
    context = record_context(entity, pk)
    return context["based_on"] if context else []


class StageMoveView(BaseView):
    route_base = "/crm/move"
    default_view = "move"
    base_permissions: list[str] = []  # guarded by the entity's own write right, below

    @expose("/<entity>/<int:pk>", methods=["POST"])
    def move(self, entity: str, pk: int):
        stage = request.form.get("stage", "")

        def act(record):
            service.transition(record, stage, source="form")
            name = process_of(record).stage(stage).name
            return f"Запись переведена на этап «{name}»"

        return self._act_on(entity, pk, act, may_change_stage)

    @expose("/<entity>/<int:pk>/based_on/<key>", methods=["POST"])
    def based_on(self, entity: str, pk: int, key: str):
        chosen = request.form.get("chosen", type=int)

        def act(record):
            count = service.create_based_on(record, key, chosen)
            return f"Создано на основании записи: {count}"

        return self._act_on(entity, pk, act, lambda record, _user: _may_write(record))

    @staticmethod
    def _act_on(entity: str, pk: int, act, allowed):
        """Rights are the entity's own and the row rule (`allowed(record, user)`): no
        separate permission. `act(record)` changes the session and returns the message; one
        commit or rollback."""
        user = acting_user()
        if user is None:
            return redirect(url_for(current_app.appbuilder.sm.auth_view.endpoint + ".login"))
        record = get_record(entity, pk)
        if record is None or not is_process_record(record) \
                or not can_see(record, user):
            abort(404)
        if not allowed(record, user):
            abort(403)
        try:
            with refusing_database_errors():  # a move saved meanwhile: StaleRecord
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
