"""Comments, the history and the files of any record: the record page's "История" and
"Файлы" sections, their form endpoints and their REST API.

Every endpoint checks three things before it reads or writes: the right on "comment" or
"attachment" (the access table), the read right on the record's own entity, and the row rule
of the record (app.scope.can_see). A record the user cannot see answers 403 whichever way it
is asked for."""
from __future__ import annotations

from flask import abort, current_app, flash, make_response, redirect, request, send_file, \
    url_for
from flask_appbuilder import BaseView, expose
from flask_appbuilder.api import BaseApi, safe
from flask_appbuilder.security.decorators import has_access, protect

from app.access import access_table
from app.attachments import (allowed_extensions, attachments_of, delete_attachment,
                             discard_file, human_size, max_bytes, path_of, save_upload)
from app.extensions import db
from app.formatting import format_datetime
from app.scope import can_see
from errors import UploadRefused
from models.attachment import Attachment
from models.base import acting_user, current_actor_id
from models.registry import get_record, model_for
from models.timeline import (COMMENT_MAX_LENGTH, TimelineKind, add_timeline, is_blank,
                             timeline_for)
from views.base import CrmModelView
from views.csrf import check_csrf, csrf_token
from views.errors import render_error_page

COMMENT_EMPTY = "Введите текст комментария."
COMMENT_TOO_LONG = f"Комментарий слишком длинный: не больше {COMMENT_MAX_LENGTH} символов."
NO_FILE = "Выберите файл для загрузки."
# Resources that guard these sections themselves, not records one may comment or attach to
# (a file's own history would tell its parent record to anyone who may read files; an
# absence's history would tell the kind of a sick leave to anyone who may read absences). The
# files of an «Ознакомление» are served by its own screen, which checks the document's rows
# (views/acknowledgement.py): here they answer as if there were none.
NOT_RECORDS = frozenset({"comment", "attachment", "audit", "scheduled_action",
                         "outbox_message", "notification", "acknowledgement", "absence",
                         "leave_balance", "document", "document_template",
                         "company_profile", "document_batch"})


# --- where a record lives and who may touch it -----------------------------------------

def view_for_entity(entity: str):
    """The CrmModelView showing the entity's records (the one whose resource is the entity
    key when a model has several screens), or None."""
    model = model_for(entity)
    if model is None:
        return None
    found = [v for v in current_app.appbuilder.baseviews
             if isinstance(v, CrmModelView) and getattr(v.datamodel, "obj", None) is model]
    if not found:
        return None
    # An inbox ("Мои задачи", "Новые заказы") filters more than the entity's own screen: a
    # link must open the screen that shows every record the user may see.
    found.sort(key=lambda v: (v.class_permission_name != entity, len(v.base_filters or [])))
    return found[0]


def _user():
    return acting_user()


def has_right(right: str, resource: str) -> bool:
    return bool(resource) and current_app.appbuilder.sm.has_access(f"can_{right}", resource)


def resource_for_entity(entity: str, view=None) -> str | None:
    """The access-table resource guarding the entity's records: its screen's resource, or
    the entity key itself when the access table knows it (a record reached only through
    the API, or an entity whose screen is not written yet)."""
    if entity in NOT_RECORDS:
        return None
    if view is not None and view.class_permission_name:
        return view.class_permission_name
    return entity if entity in access_table().resources else None


def find_record(entity: str, record_id: int):
    """(record, view or None) or (None, status): 404 for an unknown entity or record, 403
    for a record the current user may not read."""
    model = model_for(entity)
    view = view_for_entity(entity)
    resource = resource_for_entity(entity, view)
    if model is None or resource is None:
        return None, 404
    record = get_record(entity, record_id)
    if record is None:
        return None, 404
    if not has_right("read", resource) or not can_see(record, _user()):
        return None, 403
    return record, view


def live_attachment(pk):
    """The file, or None when there is none or it is in the recycle bin with its record
    (an object this session already holds comes back from `get` without the bin's
    criteria)."""
    attachment = db.session.get(Attachment, pk)
    return None if attachment is None or attachment.in_trash else attachment


def record_or_abort(entity: str, record_id: int):
    record, view = find_record(entity, record_id)
    if record is None:
        abort(view)
    return record, view


def record_url(view, record_id: int, anchor: str = "") -> str:
    if view is None:
        return request.referrer or current_app.appbuilder.get_url_for_index
    url = url_for(f"{view.endpoint}.show", pk=record_id)
    return f"{url}#{anchor}" if anchor else url


def refuse_on_page(view, record_id: int, message: str, status: int = 422):
    """The record page again, with the Russian message on top and a 4xx status, so the user
    sees what went wrong where they were."""
    db.session.rollback()
    if view is None:
        return make_response(render_error_page(status, "Действие не выполнено", message),
                             status)
    flash(message, "danger")
    response = make_response(view.show(record_id))
    if response.status_code == 200:
        response.status_code = status
    return response


# --- what the record page shows --------------------------------------------------------

def record_panel(entity: str, pk) -> dict | None:
    """Everything crm/show.html needs below the fields, or None when the page has no
    history (an entity without a key, or a record that is gone)."""
    try:
        record_id = int(pk)
    except (TypeError, ValueError):
        return None
    view = view_for_entity(entity) if entity else None
    if view is None:
        return None
    can_read_comments = has_right("read", "comment")
    items = timeline_for(entity, record_id)
    if not can_read_comments:
        items = [i for i in items if not i.is_comment]
    items.reverse()  # the newest first: what happened last is what the reader looks for
    can_read_files = has_right("read", "attachment")
    files = attachments_of(entity, record_id) if can_read_files else []
    existing = {a.id for a in files}
    return {
        "entity": entity,
        "record_id": record_id,
        "items": items,
        "existing_files": existing,
        "can_comment": has_right("write", "comment"),
        "comment_url": url_for("CommentView.add", entity=entity, record_id=record_id),
        "comment_max": COMMENT_MAX_LENGTH,
        "can_read_files": can_read_files,
        "files": files,
        "can_upload": has_right("write", "attachment"),
        "can_delete_files": has_right("delete", "attachment"),
        "upload_url": url_for("AttachmentView.upload", entity=entity, record_id=record_id),
        "accept": ",".join(f".{e}" for e in sorted(allowed_extensions())),
        "max_size": human_size(max_bytes()) if max_bytes() else "",
        "csrf_token": csrf_token(),
    }


# --- screens ----------------------------------------------------------------------------

class CommentView(BaseView):
    """Comments on a record: the form on the record page posts here."""

    route_base = "/crm/comment"
    class_permission_name = "comment"
    method_permission_name = {"add": "write", "history": "read"}
    default_view = "history"

    @expose("/add/<entity>/<int:record_id>", methods=["POST"])
    @has_access
    def add(self, entity, record_id):
        check_csrf()
        record, view = record_or_abort(entity, record_id)
        text = (request.form.get("text") or "").strip()
        if is_blank(text):
            return refuse_on_page(view, record_id, COMMENT_EMPTY)
        if len(text) > COMMENT_MAX_LENGTH:
            return refuse_on_page(view, record_id, COMMENT_TOO_LONG)
        add_timeline(entity, record.id, TimelineKind.comment.value, text,
                     author_id=current_actor_id())
        db.session.commit()
        flash("Комментарий добавлен", "success")
        return redirect(record_url(view, record_id, "crm-history"))

    @expose("/history/<entity>/<int:record_id>", methods=["GET"])
    @has_access
    def history(self, entity, record_id):
        """The record page's history section (a link target; the page shows it itself)."""
        _record, view = record_or_abort(entity, record_id)
        return redirect(record_url(view, record_id, "crm-history"))


class AttachmentView(BaseView):
    """Upload, download and delete of the files of a record."""

    route_base = "/crm/attachment"
    class_permission_name = "attachment"
    method_permission_name = {"upload": "write", "download": "read", "delete": "delete"}
    default_view = "download"

    @expose("/upload/<entity>/<int:record_id>", methods=["POST"])
    @has_access
    def upload(self, entity, record_id):
        check_csrf()
        _record, view = record_or_abort(entity, record_id)
        file = request.files.get("file")
        if file is None or not file.filename:
            return refuse_on_page(view, record_id, NO_FILE)
        try:
            attachment = save_upload(file.stream, file.filename, entity, record_id,
                                     declared_type=file.mimetype, user_id=current_actor_id())
        except UploadRefused as exc:
            return refuse_on_page(view, record_id, exc.message, exc.http_status)
        try:
            db.session.commit()
        except Exception:
            db.session.rollback()
            discard_file(attachment)
            raise
        flash(f"Файл «{attachment.filename}» загружен", "success")
        return redirect(record_url(view, record_id, "crm-files"))

    @expose("/download/<int:pk>", methods=["GET"])
    @has_access
    def download(self, pk):
        attachment = live_attachment(pk)
        if attachment is None:
            abort(404)
        record_or_abort(attachment.entity, attachment.record_id)
        return send_attachment(attachment)

    @expose("/delete/<int:pk>", methods=["POST"])
    @has_access
    def delete(self, pk):
        check_csrf()
        attachment = live_attachment(pk)
        if attachment is None:
            abort(404)
        _record, view = record_or_abort(attachment.entity, attachment.record_id)
        name, record_id = attachment.filename, attachment.record_id
        delete_attachment(attachment, user_id=current_actor_id())
        db.session.commit()
        discard_file(attachment)
        flash(f"Файл «{name}» удалён", "success")
        return redirect(record_url(view, record_id, "crm-files"))


def send_attachment(attachment: Attachment):
    """The file as a download: never shown inline, so an uploaded HTML or SVG cannot run
    in the panel's origin. Werkzeug writes the RFC 5987 filename* for a Cyrillic name."""
    try:
        path = path_of(attachment)
    except UploadRefused:
        abort(404)
    if not path.is_file():
        abort(404)
    response = send_file(path, mimetype=attachment.content_type, as_attachment=True,
                         download_name=attachment.filename, max_age=0, conditional=False,
                         etag=attachment.sha256)
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = "private, no-store"
    return response


# --- REST ---------------------------------------------------------------------------------

def _attachment_json(a: Attachment) -> dict:
    return {
        "id": a.id, "entity": a.entity, "record_id": a.record_id, "filename": a.filename,
        "size": a.size, "content_type": a.content_type, "sha256": a.sha256,
        "uploaded_by": {"id": a.uploaded_by_id,
                        "name": str(a.uploaded_by) if a.uploaded_by else None},
        "uploaded_at": a.uploaded_at.isoformat() if a.uploaded_at else None,
        "download_url": url_for("AttachmentApi.content", pk=a.id),
    }


class _RecordApi(BaseApi):
    allow_browser_login = True

    def _record(self, entity, record_id):
        """(record, None) or (None, error response)."""
        record, view = find_record(entity, record_id)
        if record is None:
            if view == 403:
                return None, self.response(403, message="Нет доступа к этой записи")
            return None, self.response(404, message="Запись не найдена")
        return record, None


class AttachmentApi(_RecordApi):
    """/api/v1/attachment/record/<entity>/<id>: list (GET) and upload (POST, multipart field
    "file"); /api/v1/attachment/<id>: metadata (GET) and delete (DELETE);
    /api/v1/attachment/<id>/content: the bytes."""

    resource_name = "attachment"
    class_permission_name = "attachment"
    method_permission_name = {"list_files": "read", "upload_file": "write", "info": "read",
                              "content": "read", "remove": "delete"}
    openapi_spec_tag = "Файлы"

    @expose("/record/<entity>/<int:record_id>", methods=["GET"])
    @protect()
    @safe
    def list_files(self, entity, record_id):
        """Files of a record.
        ---
        get:
          summary: Файлы записи
          parameters:
          - {in: path, name: entity, required: true, schema: {type: string}}
          - {in: path, name: record_id, required: true, schema: {type: integer}}
          responses:
            200: {description: Список файлов}
            403: {description: Нет доступа}
            404: {description: Запись не найдена}
        """
        record, error = self._record(entity, record_id)
        if error is not None:
            return error
        files = attachments_of(entity, record.id)
        return self.response(200, count=len(files), result=[_attachment_json(a) for a in files])

    @expose("/record/<entity>/<int:record_id>", methods=["POST"])
    @protect()
    @safe
    def upload_file(self, entity, record_id):
        """Attach a file (multipart/form-data, field "file").
        ---
        post:
          summary: Прикрепить файл
          parameters:
          - {in: path, name: entity, required: true, schema: {type: string}}
          - {in: path, name: record_id, required: true, schema: {type: integer}}
          requestBody:
            content:
              multipart/form-data:
                schema: {type: object, properties: {file: {type: string, format: binary}}}
          responses:
            201: {description: Файл сохранён}
            413: {description: Слишком большой запрос}
            422: {description: Файл отклонён}
        """
        record, error = self._record(entity, record_id)
        if error is not None:
            return error
        file = request.files.get("file")
        if file is None or not file.filename:
            return self.response(422, message={"file": [NO_FILE]})
        user = _user()
        try:
            attachment = save_upload(file.stream, file.filename, entity, record.id,
                                     declared_type=file.mimetype,
                                     user_id=user.id if user else None)
        except UploadRefused as exc:
            db.session.rollback()
            return self.response(exc.http_status, message={"file": [exc.message]})
        try:
            db.session.commit()
        except Exception:
            db.session.rollback()
            discard_file(attachment)
            raise
        return self.response(201, result=_attachment_json(attachment))

    def _attachment(self, pk):
        attachment = live_attachment(pk)
        if attachment is None:
            return None, self.response(404, message="Файл не найден")
        _record, error = self._record(attachment.entity, attachment.record_id)
        if error is not None:
            return None, error
        return attachment, None

    @expose("/<int:pk>", methods=["GET"])
    @protect()
    @safe
    def info(self, pk):
        """Metadata of one file.
        ---
        get:
          summary: Сведения о файле
          parameters:
          - {in: path, name: pk, required: true, schema: {type: integer}}
          responses:
            200: {description: Файл}
            403: {description: Нет доступа}
            404: {description: Не найден}
        """
        attachment, error = self._attachment(pk)
        if error is not None:
            return error
        return self.response(200, result=_attachment_json(attachment))

    @expose("/<int:pk>/content", methods=["GET"])
    @protect()
    def content(self, pk):
        """The bytes of a file.
        ---
        get:
          summary: Скачать файл
          parameters:
          - {in: path, name: pk, required: true, schema: {type: integer}}
          responses:
            200: {description: Содержимое файла}
            403: {description: Нет доступа}
            404: {description: Не найден}
        """
        attachment, error = self._attachment(pk)
        if error is not None:
            return error
        return send_attachment(attachment)

    @expose("/<int:pk>", methods=["DELETE"])
    @protect()
    @safe
    def remove(self, pk):
        """Delete a file.
        ---
        delete:
          summary: Удалить файл
          parameters:
          - {in: path, name: pk, required: true, schema: {type: integer}}
          responses:
            200: {description: Удалён}
            403: {description: Нет доступа}
            404: {description: Не найден}
        """
        attachment, error = self._attachment(pk)
        if error is not None:
            return error
        user = _user()
        delete_attachment(attachment, user_id=user.id if user else None)
        db.session.commit()
        discard_file(attachment)
        return self.response(200, message="Файл удалён")


def _item_json(item) -> dict:
    return {"at": item.at.isoformat(), "at_text": format_datetime(item.at), "kind": item.kind,
            "kind_label": item.kind_label, "text": item.text, "author_id": item.author_id,
            "author": item.author_name, "payload": item.payload}


class TimelineApi(_RecordApi):
    """/api/v1/timeline/<entity>/<id>: the history (GET) and a new comment (POST
    {"text": "..."})."""

    resource_name = "timeline"
    class_permission_name = "comment"
    method_permission_name = {"get_timeline": "read", "post_comment": "write"}
    openapi_spec_tag = "История"

    @expose("/<entity>/<int:record_id>", methods=["GET"])
    @protect()
    @safe
    def get_timeline(self, entity, record_id):
        """The history of a record, oldest first.
        ---
        get:
          summary: История записи
          parameters:
          - {in: path, name: entity, required: true, schema: {type: string}}
          - {in: path, name: record_id, required: true, schema: {type: integer}}
          responses:
            200: {description: История}
            403: {description: Нет доступа}
            404: {description: Запись не найдена}
        """
        record, error = self._record(entity, record_id)
        if error is not None:
            return error
        items = timeline_for(entity, record.id)
        return self.response(200, count=len(items), result=[_item_json(i) for i in items])

    @expose("/<entity>/<int:record_id>", methods=["POST"])
    @protect()
    @safe
    def post_comment(self, entity, record_id):
        """Add a comment.
        ---
        post:
          summary: Добавить комментарий
          parameters:
          - {in: path, name: entity, required: true, schema: {type: string}}
          - {in: path, name: record_id, required: true, schema: {type: integer}}
          requestBody:
            content:
              application/json:
                schema: {type: object, properties: {text: {type: string}}}
          responses:
            201: {description: Комментарий добавлен}
            403: {description: Нет доступа}
            422: {description: Пустой или слишком длинный текст}
        """
        record, error = self._record(entity, record_id)
        if error is not None:
            return error
        body = request.get_json(silent=True)
        text = body.get("text") if isinstance(body, dict) else None
        text = text.strip() if isinstance(text, str) else ""
        if is_blank(text):
            return self.response(422, message={"text": [COMMENT_EMPTY]})
        if len(text) > COMMENT_MAX_LENGTH:
            return self.response(422, message={"text": [COMMENT_TOO_LONG]})
        user = _user()
        entry = add_timeline(entity, record.id, TimelineKind.comment.value, text,
                             author_id=user.id if user else 0)
        db.session.commit()
        return self.response(201, result={"id": entry.id, "at": entry.at.isoformat(),
                                          "text": entry.text})


def register_views(appbuilder):
    appbuilder.add_view_no_menu(CommentView)
    appbuilder.add_view_no_menu(AttachmentView)
    appbuilder.add_api(AttachmentApi)
    appbuilder.add_api(TimelineApi)
    # crm/show.html asks for its history and files through this global.
    current_app.jinja_env.globals["crm_record_panel"] = record_panel
