"""Invoice payments: «Оплачен» by hand, and the payment service's notification (signed with
PAYMENT_WEBHOOK_SECRET, kept once per payment_id). Either way the responsible manager hears
«Счёт № … оплачен» in the app and by e-mail."""
from __future__ import annotations

import datetime as dt
import hashlib
import hmac
from decimal import Decimal, InvalidOperation

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from app.extensions import db
from app.formatting import to_utc
from errors import CrmError, FieldErrors
from models.base import utcnow
from models.client_link import ClientLink
from models.document import Document
from models.outbox import OutboxKind, OutboxMessage
from models.payment import ReceivedPayment
from models.registry import get_record
from models.timeline import add_timeline
from models.user import CrmUser
from process import client_links, documents
from process.absence import local_today
from process.document_context import INVOICES


class PaymentRefused(CrmError):
    """The notification names no invoice we know (404) or the wrong amount (422)."""

    def __init__(self, message: str, status: int):
        super().__init__(message)
        self.http_status = status


def is_invoice(document: Document | None) -> bool:
    return document is not None and document.kind in INVOICES


def mark_paid(document: Document, user_id: int | None, at: dt.datetime | None = None) -> bool:
    """documents.mark_paid and the manager's «Счёт № … оплачен» (unless the record's
    definition reacts to the payment itself); False when it already was."""
    if not documents.mark_paid(document, user_id, at):
        return False
    _tell_responsible(document)
    return True


def _tell_responsible(document: Document) -> None:
    if documents.paid_fields(document):
        return  # the record's definition reacts to the payment and tells what it wants
    record = get_record(document.entity, document.record_id)
    responsible = db.session.get(CrmUser, getattr(record, "responsible_id", None) or 0)
    if responsible is None:
        return
    text = f"Счёт № {document.number} оплачен"
    db.session.add(OutboxMessage(
        kind=OutboxKind.notification.value, recipients=[responsible.id], body=text,
        entity=document.entity, record_id=document.record_id,
        effect_key=f"invoice-paid:{document.id}"))
    if responsible.email:
        db.session.add(OutboxMessage(
            kind=OutboxKind.email.value, recipients=[responsible.email], subject=text,
            body=f"{text} ({document.doc_date:%d.%m.%Y}, запись «{record}»).",
            entity=document.entity, record_id=document.record_id,
            effect_key=f"invoice-paid-mail:{document.id}"))


# --- the notification ------------------------------------------------------------------

def signature_ok(secret: str, body: bytes, signature: str | None) -> bool:
    expected = hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()
    # Bytes, not str: compare_digest raises TypeError on a non-ASCII str (a header of
    # Latin-1 bytes), which would answer a forged notification with a 500.
    given = (signature or "").strip().lower().encode("utf-8", "replace")
    return bool(given) and hmac.compare_digest(expected.encode("ascii"), given)


def _text(body: dict, name: str, limit: int) -> str | None:
    value = body.get(name)
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise FieldErrors({name: "Ожидается строка или число"})
    value = str(value).strip()
    if len(value) > limit:
        raise FieldErrors({name: f"Не больше {limit} символов"})
    return value


def _amount(body: dict) -> Decimal:
    value = body.get("amount")
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise FieldErrors({"amount": "Укажите сумму числом, например 15000.00"})
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        raise FieldErrors({"amount": "Укажите сумму числом, например 15000.00"}) from None
    if not amount.is_finite() or amount >= Decimal("1e12"):
        raise FieldErrors({"amount": "Укажите сумму числом меньше триллиона, например "
                                     "15000.00"})
    if amount <= 0:
        raise FieldErrors({"amount": "Сумма должна быть больше нуля"})
    return amount.quantize(Decimal("0.01"))


def _paid_at(body: dict) -> dt.datetime:
    value = body.get("paid_at")
    if value in (None, ""):
        return utcnow()
    if not isinstance(value, str):
        raise FieldErrors({"paid_at": "Ожидается дата и время в формате ISO 8601"})
    try:
        moment = to_utc(dt.datetime.fromisoformat(value.replace("Z", "+00:00")))
    except (ValueError, OverflowError):  # 9999-12-31T23:59-14:00 has no UTC datetime
        raise FieldErrors({"paid_at": "Ожидается дата и время в формате ISO 8601"}) from None
    # A payment of year 1 or 9999 is a mistake, and such a date has no local time to show.
    if not 2000 <= moment.year <= 2100:
        raise FieldErrors({"paid_at": "Дата оплаты вне допустимого диапазона"})
    return moment


def _year(body: dict) -> int:
    value = body.get("year")
    if value in (None, ""):
        return local_today().year
    if isinstance(value, bool) or not isinstance(value, (int, str)) \
            or not (str(value).isascii() and str(value).isdigit()) \
            or not 2000 <= int(value) <= 2100:
        raise FieldErrors({"year": "Укажите год числом, например 2026"})
    return int(value)


def _invoice(body: dict) -> Document:
    token = _text(body, "token", 300) or _text(body, "link_token", 300)
    if token:
        # Not client_links.find: the money came whether or not the link has expired or was
        # revoked since the client paid; the signed token still names the invoice.
        link: ClientLink | None = client_links.signed_link(token)
        document = link.document if link is not None else None
    else:
        number = _text(body, "document_number", 40)
        if number is None:
            raise FieldErrors({"document_number": "Укажите номер счёта (document_number) "
                                                  "или ссылку для клиента (token)"})
        found = list(db.session.scalars(select(Document).where(
            Document.kind.in_(INVOICES), Document.number == number,
            Document.year == _year(body))))
        document = found[0] if len(found) == 1 else None
        if len(found) > 1:
            raise PaymentRefused(f"Номер {number} есть у счёта и у счёта-договора: "
                                 "передайте ссылку для клиента (token)", 409)
    if not is_invoice(document) or get_record(document.entity, document.record_id) is None:
        raise PaymentRefused("Счёт не найден", 404)
    return document


def already_received(payment_id: str) -> bool:
    return db.session.scalar(select(ReceivedPayment.id).where(
        ReceivedPayment.payment_id == payment_id)) is not None


def receive(body: dict) -> str:
    """Applies one notification in the caller's transaction: "processed", "already_paid"
    for a new payment of an invoice paid before (kept and told to the manager), or
    "already_processed" for a payment_id seen before. PaymentRefused / FieldErrors say why
    nothing was done."""
    payment_id = _text(body, "payment_id", 100)
    if payment_id is None:
        raise FieldErrors({"payment_id": "Укажите payment_id"})
    if already_received(payment_id):
        return "already_processed"
    amount, paid_at = _amount(body), _paid_at(body)
    document = _invoice(body)
    if document.amount is None or Decimal(document.amount).quantize(Decimal("0.01")) != amount:
        raise PaymentRefused(f"Сумма {amount} не совпадает с суммой счёта № {document.number}",
                             422)
    try:
        with db.session.begin_nested():
            db.session.add(ReceivedPayment(payment_id=payment_id, document_id=document.id,
                                           amount=amount, paid_at=paid_at))
    except IntegrityError:
        return "already_processed"  # the same payment, delivered twice at once
    if not mark_paid(document, None, paid_at):
        _tell_paid_again(document, payment_id, amount)
        return "already_paid"
    return "processed"


def _tell_paid_again(document: Document, payment_id: str, amount: Decimal) -> None:
    """Another payment of an invoice already paid: the client paid twice, and someone has
    to give the money back. Kept (received_payment) and told, never silently absorbed."""
    text = (f"Повторная оплата счёта № {document.number}: платёж {payment_id} на сумму "
            f"{amount}, счёт уже оплачен")
    add_timeline(document.entity, document.record_id, "document", text,
                 payload={"document_id": document.id, "payment_id": payment_id},
                 author_id=0)
    record = get_record(document.entity, document.record_id)
    responsible = getattr(record, "responsible_id", None)
    if responsible:
        db.session.add(OutboxMessage(
            kind=OutboxKind.notification.value, recipients=[responsible], body=text,
            entity=document.entity, record_id=document.record_id,
            effect_key=f"invoice-paid-again:{document.id}:{payment_id}"[:200]))
