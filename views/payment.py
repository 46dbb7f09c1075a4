"""Invoice payments: «Оплачен» by hand from the record page, and the payment service's
notification POST /api/v1/payments/notify (no sign-in: the HMAC-SHA256 of the raw body with
PAYMENT_WEBHOOK_SECRET in X-Signature is the caller's credential; no secret configured, no
endpoint)."""
from __future__ import annotations

from flask import abort, current_app, flash, request
from flask_appbuilder import BaseView, expose
from flask_appbuilder.api import BaseApi

from app.extensions import db
from errors import CrmError, FieldErrors
from models.base import acting_user, current_actor_id
from models.document import Document
from process import payments
from views.client_link import back, may_mark_paid, signed_in
from views.csrf import check_csrf
from views.timeline import find_record


class InvoicePaymentView(BaseView):
    route_base = "/crm/payments"
    default_view = "paid"

    @expose("/<int:document_id>/paid", methods=["POST"])
    @signed_in
    def paid(self, document_id):
        check_csrf()
        document = db.session.get(Document, document_id)
        if document is None or not payments.is_invoice(document):
            abort(404)
        record, view = find_record(document.entity, document.record_id)
        if record is None:
            abort(view)
        if not may_mark_paid(document, acting_user()):
            abort(403)
        if payments.mark_paid(document, current_actor_id()):
            db.session.commit()
            flash(f"Счёт № {document.number} отмечен как оплаченный", "success")
        else:
            flash(f"Счёт № {document.number} уже оплачен", "info")
        return back(view, document.record_id)


class PaymentNotifyApi(BaseApi):
    """POST /api/v1/payments/notify {"payment_id", "document_number" (with "year") or
    "token" (the invoice's client link), "amount", "paid_at"}: 200 {"status": "processed" |
    "already_paid" (another payment of a paid invoice: told to the manager) |
    "already_processed"}; 403 bad signature; 404 unknown invoice; 422 wrong amount."""

    resource_name = "payments"
    openapi_spec_tag = "Оплаты"

    @expose("/notify", methods=["POST"])
    def notify(self):
        secret = current_app.config.get("PAYMENT_WEBHOOK_SECRET") or ""
        if not secret:
            return self.response(404, message="Не найдено")
        body = request.get_data(cache=True)
        if not payments.signature_ok(secret, body, request.headers.get("X-Signature")):
            return self.response(403, message="Неверная подпись уведомления")
        data = request.get_json(silent=True)
        if not isinstance(data, dict):
            return self.response(400, message="Ожидается JSON-объект")
        try:
            status = payments.receive(data)
            db.session.commit()
        except FieldErrors as exc:
            db.session.rollback()
            return self.response(422, message=exc.message, errors=exc.errors)
        except CrmError as exc:
            db.session.rollback()
            return self.response(exc.http_status, message=exc.message)
        return self.response(200, status=status)


def register_views(appbuilder):
    appbuilder.add_view_no_menu(InvoicePaymentView)
    appbuilder.add_api(PaymentNotifyApi)


__all__ = ["InvoicePaymentView", "PaymentNotifyApi"]
