"""Settings → Процессы: the installed process definitions, each drawn as a diagram of its
stages, the versions kept, and the upload of a new version (refused whole, with the same
sentence as `flask crm rules check`, when anything in it is wrong)."""
from __future__ import annotations

from flask import abort, current_app, flash, redirect, request, url_for
from flask_appbuilder import BaseView, expose
from flask_appbuilder.security.decorators import has_access
from sqlalchemy.exc import SQLAlchemyError

from app.extensions import db
from errors import DefinitionError
from models.base import current_actor_id
from models.pipeline import FIELD_TYPE_LABELS, PIPELINE_ENTITY_LABELS
from process.catalog import (STAGE_KIND_WORDS, action_words, active_version, active_versions,
                             definition_of, duration_words, install_definition, lock_installs,
                             parse_text, required_words, versions_of)
from views.base import register
from views.csrf import check_csrf, csrf_token
from errors import CrmError
from views.errors import concurrent_conflict

MAX_DEFINITION_BYTES = 512 * 1024
NO_FILE = "Выберите файл определения процесса (YAML)"
TOO_BIG = "Файл определения больше 512 КБ: это не определение процесса"
# Uploads of one process at once: the one committing second meets the (key, version) or
# the pipeline code constraint, and installs again on top of the other.
INSTALL_ATTEMPTS = 3


class UploadBusy(CrmError):
    http_status = 409

    def __init__(self, filename: str):
        super().__init__(f"{filename}: этот процесс сейчас устанавливают из другой загрузки; "
                         "обновите страницу, проверьте версии и повторите загрузку")


def _can_write() -> bool:
    return current_app.appbuilder.sm.has_access("can_write", "pipeline")


def _diagram(process) -> list[dict]:
    """The stages in order, each with what the page says about it, in Russian words."""
    out = []
    for stage in process.stages:
        required, conditional = required_words(stage, process)
        moves = None
        if stage.moves is not None:
            moves = [process.stage(k).name for k in stage.moves]
        out.append({
            "key": stage.key, "name": stage.name, "kind": stage.kind,
            "kind_words": STAGE_KIND_WORDS.get(stage.kind, stage.kind),
            "color": stage.color or "#999999",
            "deadline": duration_words(stage.deadline),
            "required": required, "required_if": conditional,
            "readonly": [process.labels.get(k, k) for k in stage.readonly],
            "moves": moves,
            "on_enter": [action_words(a, process) for a in stage.on_enter],
            "on_leave": [action_words(a, process) for a in stage.on_leave],
        })
    return out


def _fields(process) -> list[dict]:
    return [{"key": f.key, "label": f.label, "type": FIELD_TYPE_LABELS.get(f.type, f.type),
             "list": f.list, "allow_other": f.allow_other} for f in process.fields]


class ProcessView(BaseView):
    """Read for whoever may read pipelines; upload for whoever may write them."""

    route_base = "/crm/process"
    resource = "pipeline"
    class_permission_name = "pipeline"
    method_permission_name = {"list": "read", "show": "read", "upload": "write"}
    default_view = "list"

    # --- pages ------------------------------------------------------------------------
    def _render_list(self, error: str | None = None, status: int = 200):
        return self.render_template(
            "crm/process_list.html", versions=active_versions(), error=error,
            entity_labels=PIPELINE_ENTITY_LABELS, can_write=_can_write(),
            csrf=csrf_token(), title="Процессы"), status

    def _render_show(self, process_key: str, version_no: int | None = None,
                     error: str | None = None, status: int = 200):
        versions = versions_of(process_key)
        if not versions:
            abort(404)
        if version_no is None:
            shown = next((v for v in versions if v.active), versions[0])
        else:
            shown = next((v for v in versions if v.version == version_no), None)
            if shown is None:
                abort(404)
        try:
            process = definition_of(shown)
            problem = None
        except DefinitionError as exc:
            # An old version may name something since removed (a reference list...).
            process, problem = None, exc.message
        return self.render_template(
            "crm/process_show.html", versions=versions, shown=shown, process=process,
            problem=problem, stages=_diagram(process) if process else [],
            fields=_fields(process) if process else [], error=error,
            entity_label=PIPELINE_ENTITY_LABELS.get(shown.entity, shown.entity),
            can_write=_can_write(), csrf=csrf_token(),
            title=f"Процесс «{shown.name}»"), status

    @expose("/list/")
    @has_access
    def list(self):
        return self._render_list()

    @expose("/show/<process_key>")
    @has_access
    def show(self, process_key):
        version = request.args.get("version", type=int)
        return self._render_show(process_key, version)

    # --- upload -------------------------------------------------------------------------
    @expose("/upload/", methods=["POST"])
    @has_access
    def upload(self):
        check_csrf()
        expected = (request.form.get("process_key") or "").strip() or None
        if expected is not None and active_version(expected) is None:
            expected = None  # the page of a process that is gone: treat as a new process

        def refuse(message: str, status: int = 422):
            db.session.rollback()
            if expected:
                return self._render_show(expected, error=message, status=status)
            return self._render_list(error=message, status=status)

        file = request.files.get("file")
        if file is None or not file.filename:
            return refuse(NO_FILE)
        data = file.stream.read(MAX_DEFINITION_BYTES + 1)
        if len(data) > MAX_DEFINITION_BYTES:
            return refuse(TOO_BIG)
        filename = file.filename.replace("\\", "/").rsplit("/", 1)[-1][:200]
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            return refuse(f"{filename}: файл: ожидается текст YAML в кодировке UTF-8")
        try:
            process = parse_text(text, filename)
            if expected and process.key != expected:
                raise DefinitionError(
                    f"{filename}: key: в файле процесс «{process.key}», а это страница "
                    f"процесса «{expected}»; новый процесс загружайте со списка процессов")
            before, version = _install(process.key, text, filename)
        except CrmError as exc:
            return refuse(exc.message, exc.http_status)
        if before is not None and before.id == version.id:
            flash(f"Файл совпадает с активной версией {version.version}: новая версия не "
                  "создана", "info")
        else:
            flash(f"Установлена версия {version.version} процесса «{version.name}»; "
                  "теперь она активна", "success")
        return redirect(url_for(".show", process_key=version.process_key))


def _install(process_key: str, text: str, filename: str):
    """(the version active before, the one active now), committed; an upload of the same
    process committed meanwhile is installed on, not collided with."""
    for _attempt in range(INSTALL_ATTEMPTS):
        try:
            lock_installs(process_key)
            before = active_version(process_key)
            version = install_definition(text, filename, user_id=current_actor_id())
            db.session.commit()
            return before, version
        except SQLAlchemyError as exc:
            db.session.rollback()
            if not concurrent_conflict(exc):
                raise
    raise UploadBusy(filename)


def register_views(appbuilder):
    register(appbuilder, ProcessView, "Процессы", "Настройки", icon="fa-sitemap",
             category_icon="fa-cogs")


__all__ = ["ProcessView"]
