"""The stage buttons of a record page: every stage of the record's process, enabled when the
transition service would accept the move, disabled with the reason when it would not (the
same answer the request gets), and the endpoint the buttons post to.

A move refused only because fields the form can fill are empty keeps its button: it opens
a form asking for exactly those fields, which are written and the record moved in one
commit (Bitrix24's «заполните поля, чтобы перейти»). `POST /api/v1/<entity>/<id>/move`
does the same for a client."""
from __future__ import annotations

import re
import uuid

from flask import abort, current_app, flash, redirect, request, url_for
from flask_appbuilder import BaseView, expose
from flask_appbuilder.api import BaseApi
from flask_jwt_extended import verify_jwt_in_request
from flask_login import current_user
from sqlalchemy.exc import IntegrityError

from process import service
from process.people import users_with_role
from process.snapshot import current_stage, is_process_record, process_of, record_values
from app.extensions import db
from app.scope import WRITE, can_see, may_change_stage
from errors import AlreadyDone, CrmError, FieldErrors, MissingFields
from models.base import acting_user
from models.registry import get_record
from rules.engine import manual_actions, why_not
from views import record_fields
from views.errors import refusing_database_errors
from views.task import format_record_link, record_url


REQUEST_KEY = re.compile(r"[0-9a-f]{32}")


def request_key() -> str:
    """A new key for a form whose submit must act once (templates: crm_request_key())."""
    return uuid.uuid4().hex


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
    fillable = record_fields.fillable_fields(record)
    for stage in process.stages:
        refusal = None if stage.key == current else (
            service.by_hand_refusal(process, current, stage.key, values)
            or why_not(process, current, stage.key, values))
        stages.append({"key": stage.key, "name": stage.name, "current": stage.key == current,
                       "allowed": refusal is None, "reason": refusal.message if refusal else "",
                       "fill": _fill_url(record, stage.key, refusal, fillable),
                       "color": stage.color or "#9ca3af"})
    based_on = []
    # «На основании» creates records of the writer's own: a participant only moves the stage.
    for key, label in manual_actions(process, values, current) if _may_write(record) else ():
        role = service.chosen_role(process, key)
        users = [(u.id, str(u)) for u in users_with_role(role)] if role else []
        based_on.append({"key": key, "label": label, "role": role, "users": users})
    return {"record": record, "process": process, "values": values, "stage": current,
            "stages": stages, "based_on": based_on}


def _fill_url(record, stage_key: str, refusal, fillable: dict) -> str:
    """The fields form of a move refused only for empty fields the form can fill."""
    if record_fields.missing_to_ask(record, refusal, fillable) is None:
        return ""
    return url_for("StageMoveView.fields", entity=type(record).__entity__, pk=record.id,
                   stage=stage_key)


def may_edit_row(entity: str, pk) -> bool:
    """«Изменить» on a record page: the row rule lets the user change this record (a
    stage's participant and a task's assignee only read it). The role's right is the
    template's own check."""
    if not entity:
        return True  # a screen of no entity has no row rule
    record = get_record(entity, pk)
    return record is not None and can_see(record, acting_user(), WRITE)


def stage_buttons(entity: str, pk) -> list[dict]:
    """[{key, name, current, allowed, reason, fill}] for the record page; [] without a
    process. `fill`: the form of the fields a refused move asks for."""
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
            return f"Запись переведена на этап «{_stage_name(record, stage)}»"

        return self._act_on(entity, pk, act, may_change_stage)

    @expose("/<entity>/<int:pk>/based_on/<key>", methods=["POST"])
    def based_on(self, entity: str, pk: int, key: str):
        chosen = request.form.get("chosen", type=int)
        # The form's key of this click: four clicks of one button create one set of records.
        click = request.form.get("request_key", "")
        click = click if REQUEST_KEY.fullmatch(click) else None

        def act(record):
            count = service.create_based_on(record, key, chosen, request_key=click)
            return f"Создано на основании записи: {count}"

        return self._act_on(entity, pk, act, lambda record, _user: _may_write(record))

    @expose("/<entity>/<int:pk>/fields", methods=["GET", "POST"])
    def fields(self, entity: str, pk: int):
        """The button of a move refused only for empty fields: the form asking for exactly
        those (GET `?stage=<key>`); sent, they are written and the record moved in one
        commit, or the form comes back with the messages and what was typed."""
        user = acting_user()
        if user is None:
            return _to_login()
        record = _record_to_act_on(entity, pk, user, may_change_stage)
        stage = request.values.get("stage", "")
        if request.method == "POST":
            return self._fill_and_move(record, stage)
        refusal = service.may_move(record, stage)
        asked = [] if refusal is None else record_fields.missing_to_ask(record, refusal)
        if asked is None:
            flash(refusal.message, "danger")
            return redirect(_record_page(record))
        return self._fields_form(record, stage, asked)

    def _fill_and_move(self, record, stage: str):
        form = request.form
        asked = form.getlist("asked")
        try:
            with db.session.no_autoflush:
                values = record_fields.form_values(record, asked, form)
                record_fields.move_with_fields(record, stage, values,
                                               form.get("record_version"), source="form")
                name = _stage_name(record, stage)
            record_fields.commit()
        except CrmError as exc:
            db.session.rollback()
            return self._refused(type(record).__entity__, record.id, stage, exc, asked)
        flash(f"Запись переведена на этап «{name}»", "success")
        # A participant of the stage left sees the record no more: home, not a 404.
        if not can_see(record, acting_user()):
            return redirect(url_for("HomeView.index"))
        return redirect(_record_page(record))

    def _refused(self, entity: str, pk: int, stage: str, exc: CrmError, asked_before):
        """The form again with the messages at its fields, or the message on the record
        page when no field of the form answers it (a record changed meanwhile...)."""
        record = get_record(entity, pk)
        if record is None:
            abort(404)
        fillable = record_fields.fillable_fields(record)
        errors = dict(exc.errors) if isinstance(exc, FieldErrors) else {}
        named = [key for key in errors if key in fillable]
        if not isinstance(exc, FieldErrors) or not (named or asked_before):
            flash(exc.message, "danger")
            return redirect(_record_page(record))
        asked = record_fields.with_companions(record, [*asked_before, *named], fillable)
        notes = [exc.message] if isinstance(exc, MissingFields) else []
        notes += [text for key, text in errors.items() if key not in asked]
        return self._fields_form(record, stage, asked, request.form, errors,
                                 list(dict.fromkeys(notes))), 422

    def _fields_form(self, record, stage: str, asked, submitted=None, errors=None,
                     notes=()):
        """The form; `submitted` None is its first display: no message yet, only what to
        fill."""
        entity = type(record).__entity__
        return self.render_template(
            "crm/move_fields.html", title="Переход на этап",
            stage=stage, stage_name=_stage_name(record, stage),
            record_link=format_record_link((entity, record.id)),
            of_record=record_fields.of_record(entity), notes=notes, asked=asked,
            rows=record_fields.input_rows(record, asked, submitted, errors or {}),
            action=url_for("StageMoveView.fields", entity=entity, pk=record.id),
            back=_record_page(record),
            record_version=(submitted.get("record_version") if submitted is not None
                            else None) or getattr(record, "version", ""),
            other=record_fields.OTHER, money_types=record_fields.MONEY_TYPES)

    @staticmethod
    def _act_on(entity: str, pk: int, act, allowed):
        """Rights are the entity's own and the row rule (`allowed(record, user)`): no
        separate permission. `act(record)` changes the session and returns the message; one
        commit or rollback."""
        user = acting_user()
        if user is None:
            return _to_login()
        record = _record_to_act_on(entity, pk, user, allowed)
        try:
            with refusing_database_errors():  # a move saved meanwhile: StaleRecord
                message = act(record)
                db.session.commit()
            flash(message, "success")
        except (CrmError, KeyError) as exc:
            db.session.rollback()
            flash(getattr(exc, "message", "Нет такого этапа"), "danger")
        except IntegrityError:
            # The same click landed twice at once: the other request wrote the same keys.
            db.session.rollback()
            flash(AlreadyDone.default_message, "warning")
        return redirect(request.referrer or url_for("HomeView.index"))


def _to_login():
    return redirect(url_for(current_app.appbuilder.sm.auth_view.endpoint + ".login"))


def _record_to_act_on(entity: str, pk: int, user, allowed):
    """The process record, if the user sees it (else 404) and `allowed(record, user)` (else
    403): the entity's own rights and the row rule, no separate permission."""
    record = get_record(entity, pk)
    if record is None or not is_process_record(record) or not can_see(record, user):
        abort(404)
    if not allowed(record, user):
        abort(403)
    return record


def _stage_name(record, key: str) -> str:
    """The stage's name by the record's process (a pipeline without one: its key)."""
    process = process_of(record)
    return process.stage(key).name if process is not None else key


def _record_page(record) -> str:
    entity = type(record).__entity__
    return record_url(entity, record.id) or request.referrer or url_for("HomeView.index")


class RecordMoveApi(BaseApi):
    """`POST /api/v1/<entity>/<id>/move` {"stage": "<key>", "fields": {...},
    "record_version": 3}: the fields the move asks for written and the record moved in one
    transaction; a 422 naming the fields still missing, and nothing changed."""

    route_base = "/api/v1"
    resource_name = "record_move"
    # Guarded by the entity's own rights and the row rule, below, as the stage buttons are.
    base_permissions: list[str] = []
    allow_browser_login = True

    @expose("/<entity>/<int:pk>/move", methods=["POST"])
    def move_one(self, entity: str, pk: int):
        user = _api_user()
        if not current_app.appbuilder.sm.has_access("can_read", entity):
            return self.response(403, message="Недостаточно прав для этого действия")
        record = get_record(entity, pk)
        if record is None or not is_process_record(record) or not can_see(record, user):
            return self.response(404, message="Запись не найдена")
        if not may_change_stage(record, user):
            return self.response(403, message="Недостаточно прав, чтобы перевести запись")
        try:
            stage, fields, version = _move_body(request.get_json(silent=True))
            with db.session.no_autoflush:
                record_fields.move_with_fields(record, stage, fields, version, source="api")
                name = _stage_name(record, stage)
            record_fields.commit()
        except CrmError as exc:
            db.session.rollback()
            if isinstance(exc, FieldErrors):
                return self.response(exc.http_status,
                                     message={k: [v] for k, v in exc.errors.items()})
            return self.response(exc.http_status, message=exc.message)
        return self.response(200, id=pk, stage=stage, version=getattr(record, "version", None),
                             message=f"Запись переведена на этап «{name}»")


def _api_user():
    """The caller, by the session cookie or else the bearer token, as Flask-AppBuilder's
    `protect` finds them (no token: its 401)."""
    if not current_user.is_authenticated:
        verify_jwt_in_request()
    return acting_user()


def _move_body(body) -> tuple:
    """(stage, fields, record_version) of a move request; FieldErrors for values of the
    wrong kind."""
    if not isinstance(body, dict):
        raise FieldErrors({"body": "Ожидается JSON-объект: {\"stage\": \"...\", "
                                   "\"fields\": {...}}"})
    errors = {}
    stage, fields, version = body.get("stage"), body.get("fields"), body.get("record_version")
    if not isinstance(stage, str) or not stage:
        errors["stage"] = "Укажите ключ этапа"
    if fields is not None and not isinstance(fields, dict):
        errors["fields"] = "Ожидается объект {\"поле\": значение}"
    if version is not None and (isinstance(version, bool) or not isinstance(version, int)):
        errors["record_version"] = "Ожидается номер версии записи (целое число)"
    if errors:
        raise FieldErrors(errors)
    return stage, fields, version


def register_views(appbuilder):
    appbuilder.add_view_no_menu(StageMoveView)
    appbuilder.add_api(RecordMoveApi)
    current_app.jinja_env.globals["crm_may_edit_row"] = may_edit_row
    current_app.jinja_env.globals["crm_stage_buttons"] = stage_buttons
    current_app.jinja_env.globals["crm_based_on_buttons"] = based_on_buttons
    current_app.jinja_env.globals["crm_request_key"] = request_key
