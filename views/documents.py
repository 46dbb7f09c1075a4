"""Documents of records on the screen: the record page's «Документы» tab (generate, a new
version, the status the page polls), the batch over the rows selected in the deal and order
lists with its progress page, and «Продажи → Документы», the list of the documents of the
records the user may see.

A document is as visible as its record: reading needs the read right on «document» and the
record's row rule (READ); generating needs the write right on «document», the write right on
the record's entity and its row rule (WRITE). The PDF itself is a file of the record and is
downloaded through AttachmentView.download, which checks the record again. Rendering never
runs in the request: `process.documents` queues it for the worker."""
from __future__ import annotations

import logging

from flask import abort, current_app, flash, jsonify, redirect, request, url_for
from flask_appbuilder import BaseView, expose
from flask_appbuilder.actions import action
from flask_appbuilder.models.sqla.filters import BaseFilter
from flask_appbuilder.models.sqla.interface import SQLAInterface
from flask_appbuilder.security.decorators import has_access, protect
from markupsafe import Markup, escape
from sqlalchemy import and_, false, or_, select
from wtforms import HiddenField, SelectField

from app.access import API_METHOD_RIGHTS
from app.attachments import human_size
from app.extensions import db
from app.scope import READ, WRITE, can_see, row_clause
from documents.kinds import KINDS
from errors import CrmError
from models.base import acting_user
from models.document import Document, DocumentBatch, DocumentVersion, VersionStatus
from models.registry import entity_label, get_record, model_for
from process import documents as service
from views.base import CrmModelRestApi, CrmModelView, csv_cell, register
from views.csrf import check_csrf, csrf_token
from views.errors import refusing_database_errors
from views.listing import ListInterface
from views.timeline import (has_right, live_attachment, resource_for_entity, send_attachment,
                            view_for_entity)

RESOURCE = "document"
BATCH_MAX = 500
# Every entity some kind of document is made for.
DOCUMENT_ENTITIES = tuple(dict.fromkeys(e for k in KINDS.values() for e in k.entities))


# --- who may do what --------------------------------------------------------------------

def record_resource(entity: str) -> str | None:
    return resource_for_entity(entity, view_for_entity(entity)) if model_for(entity) \
        else None


def may_read_record(record, entity: str) -> bool:
    resource = record_resource(entity)
    return has_right("read", RESOURCE) and has_right("read", resource) \
        and can_see(record, acting_user(), READ)


def may_write_record(record, entity: str) -> bool:
    resource = record_resource(entity)
    return has_right("write", RESOURCE) and has_right("write", resource) \
        and can_see(record, acting_user(), WRITE)


def document_clause(user, mode: str = READ):
    """The documents whose record `user` may see (READ) or change (WRITE): one subquery per
    entity, so a page of documents costs the same whatever its size."""
    clauses = []
    for entity in DOCUMENT_ENTITIES:
        model = model_for(entity)
        resource = record_resource(entity)
        if model is None or not has_right("read" if mode == READ else "write", resource):
            continue
        rule = row_clause(model, user, mode)
        records = select(model.id) if rule is None else select(model.id).where(rule)
        clauses.append(and_(Document.entity == entity, Document.record_id.in_(records)))
    return or_(*clauses) if clauses else false()


def visible_documents(mode: str = READ):
    return select(Document).where(document_clause(acting_user(), mode))


def visible_document(pk, mode: str = READ) -> Document | None:
    if not has_right("read" if mode == READ else "write", RESOURCE):
        return None
    return db.session.scalars(visible_documents(mode).where(Document.id == pk)).first()


def visible_batch(pk) -> DocumentBatch | None:
    """A batch is its requester's (and the admin's) page."""
    batch = db.session.get(DocumentBatch, pk)
    user = acting_user()
    if batch is None or user is None:
        return None
    admin = current_app.config["AUTH_ROLE_ADMIN"] in {r.name for r in user.roles}
    return batch if admin or batch.requested_by_id == user.id else None


# --- what a document looks like ----------------------------------------------------------

def kind_title(kind: str) -> str:
    return KINDS[kind].title if kind in KINDS else kind


def version_json(version: DocumentVersion) -> dict:
    attachment = version.attachment if version.attachment_id else None
    return {"version": version.version, "status": version.status,
            "status_label": version.status_label, "pages": version.pages,
            "sha256": version.sha256, "size": attachment.size if attachment else None,
            "error": version.error if version.status == VersionStatus.failed.value else None,
            "requested_at": version.requested_at.isoformat() + "Z",
            "ready_at": version.ready_at.isoformat() + "Z" if version.ready_at else None,
            "download_url": url_for("AttachmentView.download", pk=version.attachment_id)
            if attachment is not None else None}


def document_json(document: Document, with_versions: bool = True) -> dict:
    latest = document.latest
    out = {"id": document.id, "entity": document.entity, "record_id": document.record_id,
           "kind": document.kind, "kind_title": kind_title(document.kind),
           "template_key": document.template_key, "number": document.number,
           "doc_date": document.doc_date.isoformat(), "title": service.number_text(
               document), "amount": str(document.amount) if document.amount is not None
           else None, "paid_at": document.paid_at.isoformat() + "Z" if document.paid_at
           else None, "status": latest.status if latest else None}
    if with_versions:
        out["versions"] = [version_json(v) for v in document.versions]
    return out


def documents_of(entity: str, record_id: int) -> list[Document]:
    return list(db.session.scalars(select(Document).where(
        Document.entity == entity, Document.record_id == record_id).order_by(
        Document.id.desc())))


def kind_choices(entity: str) -> list[dict]:
    """The kinds of the entity with their templates (a select when a kind has several)."""
    out = []
    for kind in service.kinds_for(entity):
        templates = service.templates_for(kind.key)
        if templates:
            out.append({"key": kind.key, "title": kind.title,
                        "templates": [(t.key, t.name) for t in templates]})
    return out


def record_documents(entity: str, pk) -> dict | None:
    """The record page's «Документы» tab, or None when the record has no kinds of documents
    or the user may not read them (crm/_record_panel.html)."""
    if entity not in DOCUMENT_ENTITIES or not has_right("read", RESOURCE):
        return None
    record = get_record(entity, pk)
    if record is None or not may_read_record(record, entity):
        return None
    items = documents_of(entity, record.id)
    may_write = may_write_record(record, entity)
    return {
        "documents": items, "kind_title": kind_title,
        "pending": any(d.latest is not None and d.latest.status == VersionStatus.pending.value
                       for d in items),
        "can_generate": may_write, "kinds": kind_choices(entity) if may_write else [],
        "generate_url": url_for("DocumentView.generate", entity=entity, record_id=record.id),
        "status_url": url_for("DocumentView.status", entity=entity, record_id=record.id),
        "csrf_token": csrf_token(), "size": human_size,
    }


def record_page(entity: str, record_id: int) -> str:
    view = view_for_entity(entity)
    if view is None:
        return url_for("DocumentListView.list")
    return url_for(f"{view.endpoint}.show", pk=record_id) + "#crm-documents"


# --- screens -----------------------------------------------------------------------------

def _record_for_write(entity: str, record_id: int):
    """The record the user may change, or abort: 404 unknown, 403 not theirs."""
    if entity not in DOCUMENT_ENTITIES:
        abort(404)
    record = get_record(entity, record_id)
    if record is None:
        abort(404)
    if not may_read_record(record, entity):
        abort(403)
    if not may_write_record(record, entity):
        abort(403)
    return record


def batch_targets(entity: str, ids) -> tuple[list, int]:
    """(the records of `ids` the user may change, how many others were skipped)."""
    model = model_for(entity)
    wanted = list(dict.fromkeys(int(i) for i in ids))
    if model is None or entity not in DOCUMENT_ENTITIES or not wanted:
        return [], len(wanted)
    if not (has_right("write", RESOURCE) and has_right("write", record_resource(entity))):
        return [], len(wanted)
    query = select(model).where(model.id.in_(wanted)).order_by(model.id)
    rule = row_clause(model, acting_user(), WRITE)
    if rule is not None:
        query = query.where(rule)
    records = list(db.session.scalars(query))
    return records, len(wanted) - len(records)


def parse_ids(raw) -> list[int] | None:
    values = raw if isinstance(raw, list) else str(raw or "").split(",")
    out = []
    for value in values:
        text = str(value).strip()
        # isascii: «²» is a digit to str.isdigit() and not a number to int().
        if isinstance(value, bool) or not (text.isascii() and text.isdigit()) \
                or len(text) > 9:
            return None
        out.append(int(text))
    return out if 0 < len(out) <= BATCH_MAX else None


def batch_json(batch: DocumentBatch) -> dict:
    progress = service.batch_progress(batch)
    ready = db.session.scalars(select(DocumentVersion).where(
        DocumentVersion.batch_id == batch.id,
        DocumentVersion.status == VersionStatus.ready.value).order_by(DocumentVersion.id)).all()
    return {"id": batch.id, "kind": batch.kind, "kind_title": kind_title(batch.kind),
            "total": progress.total, "ready": progress.ready, "failed": progress.failed,
            "pending": progress.pending, "finished": progress.finished,
            "text": f"Готово {progress.ready} из {progress.total}",
            "documents": [{"id": v.document_id, "title": f"{kind_title(v.document.kind)} "
                           f"{service.number_text(v.document)}",
                           "download_url": url_for("AttachmentView.download",
                                                   pk=v.attachment_id)} for v in ready]}


class DocumentView(BaseView):
    route_base = "/documents"
    resource = RESOURCE
    class_permission_name = RESOURCE
    default_view = "batch_new"
    method_permission_name = {"generate": "write", "regenerate": "write", "status": "read",
                              "batch_new": "write", "batch_create": "write",
                              "batch_show": "read", "batch_status": "read"}
    base_permissions = ["can_read", "can_write"]

    @expose("/generate/<entity>/<int:record_id>", methods=["POST"])
    @has_access
    def generate(self, entity, record_id):
        check_csrf()
        record = _record_for_write(entity, record_id)
        kind = request.form.get("kind") or ""
        template = request.form.get(f"template_{kind}") or request.form.get("template") or None
        try:
            with refusing_database_errors():
                document = service.request(record, entity, kind, template)
                db.session.commit()
        except CrmError as exc:
            db.session.rollback()
            flash(exc.message, "danger")
            return redirect(record_page(entity, record_id))
        flash(f"{kind_title(kind)} {service.number_text(document)} формируется", "success")
        return redirect(record_page(entity, record_id))

    @expose("/<int:pk>/regenerate", methods=["POST"])
    @has_access
    def regenerate(self, pk):
        check_csrf()
        document = visible_document(pk)
        if document is None:
            abort(404)
        record = _record_for_write(document.entity, document.record_id)
        try:
            with refusing_database_errors():
                service.regenerate(document)
                db.session.commit()
        except CrmError as exc:
            db.session.rollback()
            flash(exc.message, "danger")
            return redirect(record_page(document.entity, record.id))
        flash(f"Новая версия документа № {document.number} формируется", "success")
        return redirect(record_page(document.entity, record.id))

    @expose("/status/<entity>/<int:record_id>", methods=["GET"])
    @has_access
    def status(self, entity, record_id):
        """What the record page polls while a document is being rendered."""
        if entity not in DOCUMENT_ENTITIES:
            abort(404)
        record = get_record(entity, record_id)
        if record is None:
            abort(404)
        if not may_read_record(record, entity):
            abort(403)
        items = documents_of(entity, record.id)
        pending = sum(1 for d in items for v in d.versions
                      if v.status == VersionStatus.pending.value)
        return jsonify(pending=pending, documents=[document_json(d, False) for d in items])

    @expose("/batch/new", methods=["GET"])
    @has_access
    def batch_new(self):
        entity = request.args.get("entity") or ""
        ids = parse_ids(request.args.get("ids"))
        if entity not in ("deal", "order") or ids is None:
            flash("Выберите записи в списке сделок или заказов", "danger")
            return redirect(url_for("DocumentListView.list"))
        return self.render_template(
            "crm/document_batch_form.html", title="Сформировать документы", entity=entity,
            entity_label=entity_label(entity), ids=",".join(map(str, ids)), count=len(ids),
            kinds=kind_choices(entity), csrf=csrf_token())

    @expose("/batch", methods=["POST"])
    @has_access
    def batch_create(self):
        check_csrf()
        entity = request.form.get("entity") or ""
        ids = parse_ids(request.form.get("ids"))
        kind = request.form.get("kind") or ""
        template = request.form.get(f"template_{kind}") or None
        if entity not in ("deal", "order") or ids is None:
            flash("Выберите записи в списке сделок или заказов", "danger")
            return redirect(url_for("DocumentListView.list"))
        records, skipped = batch_targets(entity, ids)
        back = url_for("DocumentView.batch_new", entity=entity, ids=",".join(map(str, ids)))
        if not records:
            flash("Нет записей, для которых у вас есть право сформировать документы", "danger")
            return redirect(back)
        try:
            with refusing_database_errors():
                batch = service.request_batch(records, entity, kind, template)
                db.session.commit()
        except CrmError as exc:
            db.session.rollback()
            flash(exc.message, "danger")
            return redirect(back)
        message = f"Документов поставлено в очередь: {len(records)}"
        if skipped:
            message += f"; пропущено записей без права на изменение: {skipped}"
        flash(message, "success")
        return redirect(url_for("DocumentView.batch_show", pk=batch.id))

    @expose("/batch/<int:pk>", methods=["GET"])
    @has_access
    def batch_show(self, pk):
        batch = visible_batch(pk)
        if batch is None:
            abort(404)
        return self.render_template("crm/document_batch.html", title="Пакет документов",
                                    batch=batch, info=batch_json(batch))

    @expose("/batch/<int:pk>/status", methods=["GET"])
    @has_access
    def batch_status(self, pk):
        batch = visible_batch(pk)
        if batch is None:
            abort(404)
        return jsonify(batch_json(batch))


class DocumentBatchActionMixin:
    """«Сформировать документы» over the rows selected in a list (deals, orders): opens the
    batch form; the batch itself keeps only the records the user may change."""

    batch_method_rights = {"make_documents": "write"}

    @action("make_documents", "Сформировать документы", None, "fa-file-pdf-o", single=False)
    def make_documents(self, items):
        items = items if isinstance(items, list) else [items]
        ids = ",".join(str(i.id) for i in items if i is not None)
        if not ids:
            flash("Выберите записи в списке", "danger")
            return redirect(url_for(f"{self.endpoint}.list"))
        return redirect(url_for("DocumentView.batch_new", entity=self.datamodel.obj.__entity__,
                                ids=ids))


# --- «Документы»: the list ---------------------------------------------------------------

class DocumentRowFilter(BaseFilter):
    """The row rule of the documents: that of their records."""

    name = "Доступные документы"
    arg_name = "crm_documents"

    def apply(self, query, value):
        return query.filter(document_clause(acting_user(), READ))


class PaidFilter(BaseFilter):
    name = "Оплачен"
    arg_name = "crm_paid"

    def apply(self, query, value):
        return query.filter(Document.paid_at.isnot(None))


class UnpaidFilter(BaseFilter):
    name = "Не оплачен"
    arg_name = "crm_unpaid"

    def apply(self, query, value):
        return query.filter(Document.paid_at.is_(None))


class KindFilter(BaseFilter):
    name = "Равно"
    arg_name = "crm_kind"

    def apply(self, query, value):
        return query.filter(Document.kind == str(value or ""))


def _record_cell(item) -> Markup:
    label = f"{entity_label(item.entity)} № {item.record_id}"
    view = view_for_entity(item.entity)
    if view is None:
        return Markup(escape(label))
    url = url_for(f"{view.endpoint}.show", pk=item.record_id)
    return Markup(f'<a href="{escape(url)}">{escape(label)}</a>')


def _file_cell(item) -> Markup:
    ready = [v for v in item.versions if v.status == VersionStatus.ready.value]
    latest = item.latest
    if ready:
        url = url_for("AttachmentView.download", pk=ready[-1].attachment_id)
        text = f'<a href="{escape(url)}"><i class="fa fa-file-pdf-o"></i> Скачать</a>'
        if latest is not ready[-1]:
            text += f" · {escape(latest.status_label)}"
        return Markup(text)
    return Markup(escape(latest.status_label if latest else ""))


# The list's computed columns: what each shows of a row.
def _template_cell(item) -> str:
    template = service.active_template(item.template_key)
    return template.name if template is not None else item.template_key


CELLS = {"kind_title": lambda item: kind_title(item.kind), "record": _record_cell,
         "template_name": _template_cell,
         "file": _file_cell, "paid": lambda item: "Да" if item.paid_at else "Нет"}
PAID_COLUMN = "paid"

DOCUMENT_LABELS = {
    "kind": "Вид документа", "kind_title": "Вид документа", "number": "Номер",
    "doc_date": "Дата", "amount": "Сумма", "paid_at": "Оплачен", "record": "Запись",
    "file": "Файл", "entity": "Раздел", "record_id": "Номер записи", PAID_COLUMN: "Оплата",
    "template_key": "Шаблон", "template_name": "Шаблон", "created_at": "Создан",
    "created_by": "Автор", "id": "№",
}


class DocumentInterface(ListInterface):
    def _get_attr_value(self, item, col):
        if col in CELLS:
            return CELLS[col](item)
        return ListInterface._get_attr_value(item, col)


class DocumentListView(CrmModelView):
    datamodel = DocumentInterface(Document, load=("versions",))
    resource = RESOURCE
    titles = ("Документы", "Документ", "", "")
    label_columns = DOCUMENT_LABELS
    list_columns = ["kind_title", "number", "doc_date", "record", "amount", "paid_at", "file"]
    show_columns = ["kind_title", "number", "doc_date", "record", "amount", "paid_at",
                    "template_name", "file", "created_at"]
    search_columns = ["kind", "doc_date", PAID_COLUMN]
    search_form_extra_fields = {
        "kind": SelectField("Вид документа",
                            choices=[(k.key, k.title) for k in KINDS.values()]),
        PAID_COLUMN: HiddenField("Оплата")}
    order_columns = ["number", "doc_date", "amount", "paid_at"]
    base_order = ("id", "desc")
    base_permissions = ["can_read"]
    base_filters = [["id", DocumentRowFilter, lambda: None]]
    show_template = "appbuilder/general/model/show.html"

    def __init__(self, **kwargs):
        # FAB warns that the pseudo-column has no filter type; it gets its filters below.
        filters_log = logging.getLogger("flask_appbuilder.models.filters")
        level = filters_log.level
        filters_log.setLevel(logging.ERROR)
        try:
            super().__init__(**kwargs)
        finally:
            filters_log.setLevel(level)
        self.extra_args = {**self.extra_args, "crm_entity": ""}
        # The kind is chosen from the list of kinds (its Russian title) and compared whole;
        # «Оплата» is a pseudo-column: FAB finds filters of real columns only.
        for column, filters in (("kind", [KindFilter("kind", self.datamodel)]),
                                (PAID_COLUMN, [PaidFilter(PAID_COLUMN, self.datamodel),
                                               UnpaidFilter(PAID_COLUMN, self.datamodel)])):
            self._filters._search_filters[column] = filters
            self._filters._all_filters[column] = filters

    def _export_value(self, item, column):
        if column in CELLS:
            value = CELLS[column](item)
            return csv_cell(Markup(value).striptags() if isinstance(value, Markup) else value)
        return super()._export_value(item, column)


# --- REST --------------------------------------------------------------------------------

def _body_errors(body: dict, *, batch: bool) -> dict[str, str]:
    errors = {}
    entity = body.get("entity")
    if not isinstance(entity, str) or entity not in DOCUMENT_ENTITIES:
        errors["entity"] = "Ожидается одно из: " + ", ".join(DOCUMENT_ENTITIES)
    if batch:
        ids = body.get("ids")
        if not isinstance(ids, list) or parse_ids(ids) is None \
                or not all(isinstance(i, int) and not isinstance(i, bool) for i in ids):
            errors["ids"] = f"Ожидается список номеров записей (от 1 до {BATCH_MAX})"
    else:
        record_id = body.get("record_id")
        if isinstance(record_id, bool) or not isinstance(record_id, int) \
                or not 0 < record_id < 2 ** 31:
            errors["record_id"] = "Ожидается номер записи"
    kind = body.get("kind")
    if not isinstance(kind, str) or kind not in KINDS:
        errors["kind"] = "Неизвестный вид документа: ожидается одно из: " + ", ".join(KINDS)
    template = body.get("template")
    if template is not None and (not isinstance(template, str) or len(template) > 64):
        errors["template"] = "Ожидается ключ шаблона (строка)"
    return errors


class DocumentApi(CrmModelRestApi):
    """GET /api/v1/document/ and /api/v1/document/<id> (the documents of the records the
    user may see, with their versions), POST /api/v1/document/generate {entity, record_id,
    kind, template?} (202: rendered by the worker), POST /api/v1/document/<id>/regenerate,
    GET /api/v1/document/<id>/file (the latest ready PDF; 409 while it is being rendered),
    POST /api/v1/document/batch {entity, ids, kind, template?} and GET
    /api/v1/document/batch/<id> (its progress)."""

    resource_name = "document"
    resource = RESOURCE
    datamodel = SQLAInterface(Document)
    base_filters = [["id", DocumentRowFilter, lambda: None]]
    include_route_methods = {"get", "get_list", "post", "generate", "regenerate", "file",
                             "batch_create", "batch_get"}
    method_permission_name = {**API_METHOD_RIGHTS, "generate": "write",
                              "regenerate": "write", "file": "read", "batch_create": "write",
                              "batch_get": "read"}
    list_columns = ["id", "entity", "record_id", "kind", "template_key", "number",
                    "doc_date", "amount", "paid_at", "created_at"]
    show_columns = list_columns
    label_columns = DOCUMENT_LABELS
    list_title = show_title = "Документы"
    # Documents are made by /generate, never by a plain POST (post_headless refuses it).
    add_columns = edit_columns = ["kind"]
    search_columns = ["entity", "record_id", "kind", "doc_date", "paid_at"]
    openapi_spec_tag = "Документы"

    def pre_get(self, data):
        document = db.session.get(Document, data.get("id"))
        if document is not None:
            data["result"].update(document_json(document))

    def pre_get_list(self, data):
        ids = data.get("ids") or []
        found = {d.id: d for d in db.session.scalars(select(Document).where(
            Document.id.in_(ids)))} if ids else {}
        for row, pk in zip(data.get("result") or [], ids):
            if pk in found:
                row["kind_title"] = kind_title(found[pk].kind)
                row["status"] = found[pk].latest.status if found[pk].latest else None

    def post_headless(self):
        return self.response(422, message="Документ создаётся запросом POST "
                                          "/api/v1/document/generate")

    def _error(self, exc: CrmError):
        db.session.rollback()
        return self.response(exc.http_status, message=exc.message)

    @expose("/generate", methods=["POST"])
    @protect()
    def generate(self):
        """Request a document of a record; the worker renders it.
        ---
        post:
          summary: Сформировать документ
          requestBody:
            content:
              application/json:
                schema:
                  type: object
                  properties:
                    entity: {type: string}
                    record_id: {type: integer}
                    kind: {type: string}
                    template: {type: string}
          responses:
            202: {description: Документ поставлен в очередь}
            403: {description: Нет права изменять запись}
            404: {description: Запись не найдена}
            422: {description: Неверные данные}
        """
        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            return self.response(422, message="Ожидается JSON-объект: {\"entity\": \"deal\", "
                                              "\"record_id\": 1, \"kind\": \"invoice\"}")
        errors = _body_errors(body, batch=False)
        if errors:
            return self.response(422, message={k: [v] for k, v in errors.items()})
        entity = body["entity"]
        record = get_record(entity, body["record_id"])
        if record is None or not may_read_record(record, entity):
            return self.response(404, message="Запись не найдена")
        if not may_write_record(record, entity):
            return self.response(403, message="Нет права изменять эту запись")
        try:
            with refusing_database_errors():
                document = service.request(record, entity, body["kind"], body.get("template"))
                db.session.commit()
        except CrmError as exc:
            return self._error(exc)
        return self.response(202, id=document.id, number=document.number,
                             status=document.latest.status, result=document_json(document))

    @expose("/<int:pk>/regenerate", methods=["POST"])
    @protect()
    def regenerate(self, pk):
        """A new version of the document with the same number.
        ---
        post:
          summary: Новая версия документа
          parameters:
          - {in: path, name: pk, required: true, schema: {type: integer}}
          responses:
            202: {description: Новая версия поставлена в очередь}
            403: {description: Нет права изменять запись}
            404: {description: Документ не найден}
            422: {description: Документ ещё формируется}
        """
        document = visible_document(pk)
        if document is None:
            return self.response(404, message="Документ не найден")
        record = get_record(document.entity, document.record_id)
        if record is None or not may_write_record(record, document.entity):
            return self.response(403, message="Нет права изменять эту запись")
        try:
            with refusing_database_errors():
                version = service.regenerate(document)
                db.session.commit()
        except CrmError as exc:
            return self._error(exc)
        return self.response(202, id=document.id, version=version.version,
                             status=version.status)

    @expose("/<int:pk>/file", methods=["GET"])
    @protect()
    def file(self, pk):
        """The PDF of the latest ready version.
        ---
        get:
          summary: Файл документа
          parameters:
          - {in: path, name: pk, required: true, schema: {type: integer}}
          responses:
            200: {description: PDF}
            404: {description: Документ не найден}
            409: {description: Документ ещё формируется или не сформирован}
        """
        document = visible_document(pk)
        if document is None or not has_right("read", "attachment"):
            return self.response(404, message="Документ не найден")
        latest = document.latest
        if latest is not None and latest.status == VersionStatus.pending.value:
            return self.response(409, message="Документ ещё формируется")
        ready = [v for v in document.versions if v.status == VersionStatus.ready.value]
        attachment = live_attachment(ready[-1].attachment_id) if ready else None
        if attachment is None:
            return self.response(409, message="Документ не сформирован: "
                                 + (latest.error or "нет готовой версии" if latest
                                    else "нет готовой версии"))
        return send_attachment(attachment)

    @expose("/batch", methods=["POST"])
    @protect()
    def batch_create(self):
        """Documents for several records at once.
        ---
        post:
          summary: Сформировать документы пакетом
          requestBody:
            content:
              application/json:
                schema:
                  type: object
                  properties:
                    entity: {type: string}
                    ids: {type: array, items: {type: integer}}
                    kind: {type: string}
                    template: {type: string}
          responses:
            202: {description: Пакет поставлен в очередь}
            403: {description: Нет записей, которые можно изменять}
            422: {description: Неверные данные}
        """
        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            return self.response(422, message="Ожидается JSON-объект: {\"entity\": \"deal\", "
                                              "\"ids\": [1, 2], \"kind\": \"invoice\"}")
        errors = _body_errors(body, batch=True)
        if errors:
            return self.response(422, message={k: [v] for k, v in errors.items()})
        records, skipped = batch_targets(body["entity"], body["ids"])
        if not records:
            return self.response(403, message="Нет записей, для которых у вас есть право "
                                              "сформировать документы")
        try:
            with refusing_database_errors():
                batch = service.request_batch(records, body["entity"], body["kind"],
                                              body.get("template"))
                db.session.commit()
        except CrmError as exc:
            return self._error(exc)
        return self.response(202, id=batch.id, total=batch.total, skipped=skipped,
                             result=batch_json(batch))

    @expose("/batch/<int:pk>", methods=["GET"])
    @protect()
    def batch_get(self, pk):
        """The progress of a batch (its requester and the admin).
        ---
        get:
          summary: Ход пакета документов
          parameters:
          - {in: path, name: pk, required: true, schema: {type: integer}}
          responses:
            200: {description: Сколько готово}
            404: {description: Пакет не найден}
        """
        batch = visible_batch(pk)
        if batch is None:
            return self.response(404, message="Пакет не найден")
        return self.response(200, result=batch_json(batch))


def register_views(appbuilder):
    register(appbuilder, DocumentListView, "Документы", "Продажи", icon="fa-file-pdf-o",
             api=DocumentApi)
    appbuilder.add_view_no_menu(DocumentView)
    current_app.jinja_env.globals["crm_record_documents"] = record_documents


__all__ = ["DocumentView", "DocumentListView", "DocumentApi", "document_clause",
           "record_documents", "visible_document", "batch_targets", "parse_ids", "batch_json",
           "document_json"]
