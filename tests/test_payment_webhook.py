"""Invoice payments: the signed notification (good, bad signature, unknown invoice, wrong
amount, a repeated payment_id, no secret configured) and «Оплачен» by hand (the deal's
manager and the accountant may, an outsider may not); the client's page then says
«Оплачен»."""
from __future__ import annotations

import hashlib
import hmac
import json
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from app.extensions import db
from models.document import Document
from models.outbox import OutboxMessage
from models.payment import ReceivedPayment
from models.timeline import TimelineEntry
from tests.client_link_helpers import link_to, rendered

SECRET = "test-webhook-secret"
URL = "/api/v1/payments/notify"


@pytest.fixture()
def secret(app):
    app.config["PAYMENT_WEBHOOK_SECRET"] = SECRET
    yield SECRET
    app.config["PAYMENT_WEBHOOK_SECRET"] = ""


def _post(client, body: dict, key: str = SECRET, signature: str | None = None):
    raw = json.dumps(body).encode()
    sign = signature or hmac.new(key.encode(), raw, hashlib.sha256).hexdigest()
    return client.post(URL, data=raw, headers={"X-Signature": sign,
                                               "Content-Type": "application/json"})


def _paid_notes(document) -> list[OutboxMessage]:
    return list(db.session.scalars(select(OutboxMessage).where(
        OutboxMessage.body.like(f"Счёт № {document.number} оплачен%"))))


def _body(document, **kw) -> dict:
    return {"payment_id": "pay-1", "document_number": document.number,
            "year": document.year, "amount": str(document.amount),
            "paid_at": "2026-11-30T14:05:00+03:00", **kw}


def _fresh(document) -> Document:
    db.session.expire_all()
    return db.session.get(Document, document.id)


def test_a_signed_notification_marks_the_invoice_paid_once(app, login, document_templates,
                                                            secret):
    deal, invoice = rendered("invoice")
    assert invoice.amount == Decimal("147500.00")
    _link, path = link_to(invoice)
    anonymous = login(None)
    assert "Оплачен" not in anonymous.get(path).get_data(as_text=True)
    resp = _post(anonymous.http, _body(invoice))
    assert resp.status_code == 200 and resp.json["status"] == "processed"
    invoice = _fresh(invoice)
    assert invoice.paid_at.isoformat() == "2026-11-30T11:05:00"
    kinds = sorted(m.kind for m in _paid_notes(invoice))
    assert kinds == ["email", "notification"]
    note = next(m for m in _paid_notes(invoice) if m.kind == "notification")
    assert note.recipients == [deal.responsible_id]
    assert "Оплачен 30.11.2026" in anonymous.get(path).get_data(as_text=True)

    again = _post(anonymous.http, _body(invoice, amount="1.00"))
    assert again.status_code == 200 and again.json["status"] == "already_processed"
    assert db.session.scalar(select(func.count()).select_from(ReceivedPayment)) == 1
    assert len(_paid_notes(invoice)) == 2


def test_the_link_token_names_the_invoice_too(app, login, document_templates, secret):
    _deal, invoice = rendered("invoice")
    _link, path = link_to(invoice)
    body = {"payment_id": "p-2", "token": path.removeprefix("/c/"),
            "amount": float(invoice.amount)}
    resp = _post(login(None).http, body)
    assert resp.status_code == 200, resp.json
    assert _fresh(invoice).paid_at is not None


@pytest.mark.parametrize("state", ["expired", "revoked"])
def test_a_payment_by_the_token_of_a_dead_link_still_counts(app, login, document_templates,
                                                             secret, state):
    """The client paid; the link expired or was revoked before the bank told us. The
    signed token still names the invoice: the money is not refused."""
    _deal, invoice = rendered("invoice")
    link, path = link_to(invoice)
    if state == "expired":
        link.expires_at = link.created_at
    else:
        link.revoked_at = link.created_at
    db.session.commit()
    assert login(None).http.get(path).status_code == 410
    body = {"payment_id": "p-dead", "token": path.removeprefix("/c/"),
            "amount": str(invoice.amount)}
    resp = _post(login(None).http, body)
    assert resp.status_code == 200 and resp.json["status"] == "processed", resp.json
    assert _fresh(invoice).paid_at is not None
    forged = _post(login(None).http, {**body, "payment_id": "p-forged",
                                      "token": path.removeprefix("/c/")[:-2] + "xx"})
    assert forged.status_code == 404


def test_a_second_payment_of_a_paid_invoice_is_kept_and_told(app, login, document_templates,
                                                             secret):
    deal, invoice = rendered("invoice")
    client = login(None).http
    assert _post(client, _body(invoice, payment_id="pay-1")).json["status"] == "processed"
    paid_at = _fresh(invoice).paid_at
    resp = _post(client, _body(invoice, payment_id="pay-2"))
    assert resp.status_code == 200 and resp.json["status"] == "already_paid"
    assert _fresh(invoice).paid_at == paid_at
    assert db.session.scalar(select(func.count()).select_from(ReceivedPayment)) == 2
    told = [m for m in db.session.scalars(select(OutboxMessage).where(
        OutboxMessage.body.like("Повторная оплата%")))]
    assert [(m.kind, m.recipients) for m in told] == [("notification",
                                                        [deal.responsible_id])]
    assert "pay-2" in told[0].body and str(invoice.amount) in told[0].body
    assert db.session.scalar(select(func.count()).select_from(TimelineEntry).where(
        TimelineEntry.text.like("Повторная оплата%"))) == 1
    # The same second payment delivered again tells nothing more.
    assert _post(client, _body(invoice, payment_id="pay-2")).json["status"] == \
        "already_processed"
    assert db.session.scalar(select(func.count()).select_from(OutboxMessage).where(
        OutboxMessage.body.like("Повторная оплата%"))) == 1


@pytest.mark.parametrize("case,status", [("signature", 403), ("other_key", 403),
                                         ("unknown", 404), ("amount", 422),
                                         ("not_invoice", 404), ("no_id", 422),
                                         ("not_json", 400), ("latin1_signature", 403),
                                         ("superscript_year", 422),
                                         ("paid_at_out_of_range", 422),
                                         ("paid_at_year_one", 422),
                                         ("amount_huge", 422)])
def test_a_refused_notification_changes_nothing(app, login, document_templates, secret, case,
                                                status):
    _deal, invoice = rendered("invoice")
    _offer_deal, offer = rendered("commercial_offer", title="Другая")
    client = login(None).http
    if case == "signature":
        resp = _post(client, _body(invoice), signature="0" * 64)
    elif case == "other_key":
        resp = _post(client, _body(invoice), key="wrong")
    elif case == "unknown":
        resp = _post(client, _body(invoice, document_number="999"))
    elif case == "amount":
        resp = _post(client, _body(invoice, amount="100.00"))
        assert "не совпадает" in resp.json["message"]
    elif case == "not_invoice":
        # A client link to a commercial offer names no invoice.
        _link, offer_path = link_to(offer)
        body = {k: v for k, v in _body(invoice).items() if k != "document_number"}
        resp = _post(client, {**body, "token": offer_path.removeprefix("/c/")})
    elif case == "no_id":
        resp = _post(client, _body(invoice, payment_id=""))
    elif case == "amount_huge":
        resp = _post(client, _body(invoice, amount="1e400"))
        assert "меньше триллиона" in resp.json["message"]
    elif case == "latin1_signature":
        # A header of non-ASCII bytes: hmac.compare_digest refuses non-ASCII str.
        resp = _post(client, _body(invoice), signature="\u00e9" * 64)
    elif case == "superscript_year":
        resp = _post(client, _body(invoice, year="²⁰²⁶"))
    elif case == "paid_at_out_of_range":
        resp = _post(client, _body(invoice, paid_at="9999-12-31T23:59:59-14:00"))
    elif case == "paid_at_year_one":
        resp = _post(client, _body(invoice, paid_at="0001-01-01T00:00:00+03:00"))
    else:
        raw = b"not json"
        resp = client.post(URL, data=raw, headers={
            "X-Signature": hmac.new(SECRET.encode(), raw, hashlib.sha256).hexdigest()})
    assert resp.status_code == status, resp.json
    assert _fresh(invoice).paid_at is None
    assert db.session.scalar(select(func.count()).select_from(ReceivedPayment)) == 0
    assert _paid_notes(invoice) == []


def test_without_a_secret_there_is_no_endpoint(app, login, document_templates):
    _deal, invoice = rendered("invoice")
    app.config["PAYMENT_WEBHOOK_SECRET"] = ""
    resp = _post(login(None).http, _body(invoice), key="")
    assert resp.status_code == 404
    assert _fresh(invoice).paid_at is None
    assert db.session.scalar(select(func.count()).select_from(ReceivedPayment)) == 0


@pytest.mark.parametrize("who,allowed", [("manager", True), ("accountant", True),
                                         ("director", True), ("outsider", False),
                                         ("manager2", False), ("logistician", False)])
def test_paid_by_hand(app, login, document_templates, who, allowed):
    deal, invoice = rendered("invoice")
    user = login(who)
    page = user.get(f"/dealview/show/{deal.id}")
    resp = user.post(f"/crm/payments/{invoice.id}/paid")
    invoice = _fresh(invoice)
    if allowed:
        assert page.status_code == 200 and "Отметить оплату</button>" in page.get_data(as_text=True)
        assert resp.status_code == 302
        assert invoice.paid_at is not None and invoice.paid_by_id is not None
        assert sorted(m.kind for m in _paid_notes(invoice)) == ["email", "notification"]
    else:
        assert resp.status_code in (403, 404)
        assert invoice.paid_at is None and _paid_notes(invoice) == []


def test_only_invoices_are_paid_by_hand(app, login, document_templates):
    _deal, offer = rendered("commercial_offer")
    assert login("manager").post(f"/crm/payments/{offer.id}/paid").status_code == 404
    assert _fresh(offer).paid_at is None
