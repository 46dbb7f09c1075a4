"""Links for the client: the record page's «Ссылки для клиента» section (create, revoke,
e-mail, copy), and the public page /c/<token> a client opens without signing in.

Making or revoking a link needs the write right on the record's entity (app/access.yaml)
and the WRITE row rule on the record (app/scope.py). The public page shows exactly the
link's document (or brief) and nothing of the app: no record number, no menus, no links,
no other files; a token that opens nothing gets one Russian page whatever the reason."""
from __future__ import annotations

import functools

from flask import (abort, current_app, flash, make_response, redirect, render_template, request,
                   send_file, url_for)
from flask_appbuilder import BaseView, expose
from flask_login import current_user
from sqlalchemy import select

from app.attachments import path_of
from app.extensions import db
from app.formatting import format_money, to_local
from app.scope import WRITE, can_see
from documents.kinds import KINDS
from errors import CrmError, FieldErrors, UploadRefused
from models.base import acting_user, current_actor_id, utcnow
from models.brief import Questionnaire
from models.client_link import ClientLink
from models.document import Document
from models.registry import get_record, model_for
from process import briefs, client_links, payments
from process.document_context import build_context
from views.csrf import check_csrf, csrf_token
from views.timeline import find_record, has_right, record_url, resource_for_entity

# Records whose client may get links: sales records, not employees' own requests.
ENTITIES = ("deal", "lead", "order")
INVALID = "Ссылка недействительна или срок её действия истёк"
PUBLIC_HEADERS = {
    "Referrer-Policy": "no-referrer",
    "X-Robots-Tag": "noindex, nofollow, noarchive",
    "Cache-Control": "private, no-store, max-age=0",
    "Pragma": "no-cache",
}


# --- who may act on a record's links ---------------------------------------------------

def may_write(entity: str, record) -> bool:
    resource = resource_for_entity(entity)
    return record is not None and bool(resource) and has_right("write", resource) \
        and can_see(record, acting_user(), WRITE)


def may_mark_paid(document: Document, user) -> bool:
    """«Оплачен»: whoever may change the record (its manager), or a role with the write
    right on `invoice_payment` (the accountant) who may read it."""
    record = get_record(document.entity, document.record_id)
    if record is None or not payments.is_invoice(document):
        return False
    return may_write(document.entity, record) or (
        has_right("write", "invoice_payment") and can_see(record, user))


def writable_record(entity: str, record_id: int):
    """(record, view) the user may change, or abort: 404 unknown, 403 not theirs."""
    if entity not in ENTITIES:
        abort(404)
    record, view = find_record(entity, record_id)
    if record is None:
        abort(view)
    if not may_write(entity, record):
        abort(403)
    return record, view


def signed_in(method):
    @functools.wraps(method)
    def wrapper(*args, **kwargs):
        if not current_user.is_authenticated:
            return redirect(current_app.appbuilder.get_url_for_login_with(request.path))
        return method(*args, **kwargs)
    return wrapper


def back(view, record_id: int):
    return redirect(record_url(view, record_id, "crm-client-links"))


# --- the record page's section ------------------------------------------------------------

def _link_row(link: ClientLink, now) -> dict:
    token = client_links.token_of(link)
    if link.revoked_at is not None:
        state = "Отозвана"
    elif link.is_expired(now):
        state = "Срок истёк"
    else:
        state = "Действует"
    return {"id": link.id, "what": client_links.describe(link), "expires_at": link.expires_at,
            "state": state, "live": state == "Действует", "opened": link.open_count,
            "last_opened_at": link.last_opened_at, "revoked_at": link.revoked_at,
            "sent_to": link.sent_to, "url": client_links.link_url(token) if token else None}


def client_section(entity: str, pk) -> dict | None:
    """What crm/_client_links.html shows under a record, or None when the record has no
    such section or the user may not read it."""
    if entity not in ENTITIES:
        return None
    try:
        record_id = int(pk)
    except (TypeError, ValueError):
        return None
    record, _view = find_record(entity, record_id)
    if record is None:
        return None
    now = utcnow()
    docs = list(db.session.scalars(select(Document).where(
        Document.entity == entity, Document.record_id == record_id).order_by(Document.id)))
    user = acting_user()
    return {
        "entity": entity, "record_id": record_id,
        "can_write": may_write(entity, record),
        "can_mark_paid": any(may_mark_paid(d, user) for d in docs
                             if payments.is_invoice(d)),
        "documents": [{"id": d.id, "title": f"{KINDS[d.kind].title} № {d.number} от "
                                            f"{d.doc_date:%d.%m.%Y}",
                       "ready": client_links.ready_version(d) is not None,
                       "invoice": payments.is_invoice(d), "paid_at": d.paid_at,
                       "may_mark_paid": payments.is_invoice(d)
                       and may_mark_paid(d, user)}
                      for d in docs if d.kind in KINDS],
        "links": [_link_row(link, now) for link in client_links.links_of(entity, record_id)],
        "briefs": [{"title": b.title, "submitted_at": b.submitted_at,
                    "created_at": b.created_at, "lines": briefs.answer_lines(b)
                    if b.submitted_at else []}
                   for b in briefs.briefs_of(entity, record_id)],
        "questionnaires": list(db.session.scalars(select(Questionnaire).where(
            Questionnaire.active.is_(True)).order_by(Questionnaire.name))),
        "client_email": client_links.client_address(record) or "",
        "default_days": client_links.DEFAULT_DAYS, "max_days": client_links.MAX_DAYS,
        "csrf_token": csrf_token(),
    }


class ClientLinkView(BaseView):
    """The section's forms: create a link to a ready document, revoke one, e-mail one."""

    route_base = "/crm/client-links"
    default_view = "create"

    @expose("/create/<int:document_id>", methods=["POST"])
    @signed_in
    def create(self, document_id):
        check_csrf()
        document = db.session.get(Document, document_id)
        if document is None:
            abort(404)
        _record, view = writable_record(document.entity, document.record_id)
        try:
            days = client_links.parse_days(request.form.get("days"))
            link, token = client_links.create_for_document(document, days)
            address = address_to_send() if request.form.get("send") else None
            if address:
                client_links.send_by_email(link, token, address)
            db.session.commit()
        except CrmError as exc:
            db.session.rollback()
            flash(exc.message, "danger")
            return back(view, document.record_id)
        flash("Ссылка для клиента создана" + (f" и отправлена на {address}" if address else
                                              ": скопируйте её в списке ниже"), "success")
        return back(view, document.record_id)

    @expose("/<int:link_id>/revoke", methods=["POST"])
    @signed_in
    def revoke(self, link_id):
        check_csrf()
        link = db.session.get(ClientLink, link_id)
        if link is None:
            abort(404)
        _record, view = writable_record(link.entity, link.record_id)
        if client_links.revoke(link, current_actor_id()):
            db.session.commit()
            flash("Ссылка отозвана: клиент больше не сможет её открыть", "success")
        else:
            flash("Ссылка уже отозвана", "info")
        return back(view, link.record_id)

    @expose("/<int:link_id>/email", methods=["POST"])
    @signed_in
    def email(self, link_id):
        check_csrf()
        link = db.session.get(ClientLink, link_id)
        if link is None:
            abort(404)
        _record, view = writable_record(link.entity, link.record_id)
        token = client_links.token_of(link)
        problem = None
        if link.revoked_at is not None or link.is_expired():
            problem = "Ссылка отозвана или её срок истёк: создайте новую"
        if problem:
            flash(problem, "danger")
            return back(view, link.record_id)
        try:
            address = address_to_send()
            client_links.send_by_email(link, token, address)
            db.session.commit()
        except CrmError as exc:
            db.session.rollback()
            flash(exc.message, "danger")
            return back(view, link.record_id)
        flash(f"Ссылка отправлена клиенту на {address}", "success")
        return back(view, link.record_id)


def address_to_send() -> str:
    address = (request.form.get("email") or "").strip()
    if not address:
        raise FieldErrors({"email": "Укажите e-mail клиента"})
    if len(address) > 200 or not briefs.EMAIL.match(address):
        raise FieldErrors({"email": "Неверный e-mail клиента: например ivanov@example.ru"})
    return address


# --- the client's page ------------------------------------------------------------------

def public(body, status: int = 200):
    response = make_response(body, status)
    for name, value in PUBLIC_HEADERS.items():
        response.headers[name] = value
    return response


def invalid(status: int):
    return public(render_template("crm/client_public.html", invalid=INVALID), status)


def _document_page(link: ClientLink, token: str):
    document = link.document
    kind = KINDS[document.kind]
    page = {"title": kind.title, "number": document.number,
            "date": f"{document.doc_date:%d.%m.%Y}", "invoice": payments.is_invoice(document),
            "paid": document.paid_at is not None, "view_url": url_for(
                "ClientPublicView.file", token=token),
            "download_url": url_for("ClientPublicView.file", token=token, download=1)}
    if page["invoice"]:
        record = db.session.get(model_for(document.entity), document.record_id)
        context = build_context(document, record)
        page.update(amount=format_money(document.amount), seller=context["seller"],
                    purpose=context["payment"]["purpose"], qr=context["payment"]["qr"],
                    paid_on=f"{to_local(document.paid_at):%d.%m.%Y}"
                    if document.paid_at else "")
    return render_template("crm/client_public.html", doc=page)


def _brief_page(link: ClientLink, token: str, errors=None, values=None, status=200,
                just_sent: bool = False):
    brief = link.brief
    return public(render_template(
        "crm/client_public.html", brief=brief, done=brief.submitted_at is not None,
        just_sent=just_sent,
        errors=errors or {}, values=values, csrf=csrf_token(),
        action=url_for("ClientPublicView.open", token=token)), status)


class ClientPublicView(BaseView):
    """/c/<token>: no sign-in, no menus, one document or one brief."""

    route_base = "/c"
    default_view = "open"

    @expose("/<token>", methods=["GET", "POST"])
    def open(self, token):
        try:
            link = client_links.find(token)
        except client_links.LinkInvalid as exc:
            return invalid(exc.status)
        if link.brief_id is not None:
            return self._brief(link, token)
        if request.method == "POST":
            abort(405)
        client_links.opened(link)
        db.session.commit()
        return public(_document_page(link, token))

    def _brief(self, link: ClientLink, token: str):
        brief = link.brief
        if request.method == "GET":
            if brief.submitted_at is None:
                client_links.opened(link)
                db.session.commit()
            return _brief_page(link, token)
        check_csrf()
        if brief.submitted_at is not None:
            return _brief_page(link, token, status=409)
        try:
            answers = briefs.check_answers(brief, request.form)
            briefs.submit(brief, answers)
            db.session.commit()
        except FieldErrors as exc:
            db.session.rollback()
            return _brief_page(link, token, errors=exc.errors, values=request.form, status=422)
        except CrmError:
            db.session.rollback()  # filled in another tab a moment ago
            db.session.expire_all()
            return _brief_page(link, token, status=409)
        return _brief_page(link, token, just_sent=True)

    @expose("/<token>/file")
    def file(self, token):
        try:
            link = client_links.find(token)
        except client_links.LinkInvalid as exc:
            return invalid(exc.status)
        if link.document_id is None:
            return invalid(404)
        attachment = client_links.ready_version(link.document).attachment
        # Only the link's own document: the version's file, of the link's record.
        if attachment is None or attachment.in_trash or attachment.entity != link.entity \
                or attachment.record_id != link.record_id:
            return invalid(404)
        try:
            path = path_of(attachment)
        except UploadRefused:
            return invalid(404)
        if not path.is_file():
            return invalid(404)
        download = request.args.get("download") == "1"
        response = send_file(path, mimetype="application/pdf", as_attachment=download,
                             download_name=attachment.filename, max_age=0, conditional=False)
        response = public(response)
        # The page frames the PDF from this same origin; nothing else may.
        response.headers["X-Frame-Options"] = "SAMEORIGIN"
        response.headers["Content-Security-Policy"] = "frame-ancestors 'self'"
        return response


def register_views(appbuilder):
    appbuilder.add_view_no_menu(ClientLinkView)
    appbuilder.add_view_no_menu(ClientPublicView)
    current_app.jinja_env.globals["crm_client_section"] = client_section


__all__ = ["ClientLinkView", "ClientPublicView", "client_section", "may_mark_paid",
           "may_write"]
