"""What a template is given: a record turned into plain values (dicts, lists, Decimal, date),
never an ORM object, so a template reaches only the whitelisted fields below. The shape is
the one `documents.samples` documents and the shipped templates use."""
from __future__ import annotations

import base64
import datetime as dt
from decimal import Decimal

from sqlalchemy import select

from app.extensions import db
from documents.kinds import KINDS
from documents.amounts import VAT_RATES, item_line, totals
from documents.qr import payment_qr_for
from documents.words import amount_in_words
from documents.words import money as money_text
from models.document import CompanyProfile
from models.lines import money
from models.reference import ReferenceItem, ReferenceList
from models.user import CrmUser
from process.snapshot import process_of, record_values

INVOICES = ("invoice", "invoice_contract")
# Columns a template never sees: bookkeeping of the product itself.
HIDDEN = {"version", "rule_key", "transition_id", "trash_batch_id", "deleted_at", "custom",
          "budget_manual", "approval_state"}
PLAIN = (str, int, float, Decimal, dt.date, bool)
# Fields of the templates' record that a process may not have: printed empty then.
SCHEMA_FIELDS = ("budget", "delivery_address", "ship_date", "payment_terms", "comment")


def company_profile() -> CompanyProfile:
    return db.session.scalars(select(CompanyProfile).order_by(CompanyProfile.id)).first() \
        or CompanyProfile(name="")


def _image(data: bytes | None, content_type: str | None) -> str | None:
    if not data:
        return None
    return f"data:{content_type or 'image/png'};base64,{base64.b64encode(data).decode()}"


def seller(profile: CompanyProfile) -> dict:
    return {
        "name": profile.name or "", "full_name": profile.full_name or profile.name or "",
        "inn": profile.inn or "", "kpp": profile.kpp or "", "ogrn": profile.ogrn or "",
        "address": profile.address or "", "phone": profile.phone or "",
        "email": profile.email or "", "director": profile.director or "",
        "director_title": profile.director_title or "Генеральный директор",
        "accountant": profile.accountant or "",
        "bank": {"name": profile.bank_name or "", "bik": profile.bik or "",
                 "corr_account": profile.corr_account or "", "account": profile.account or ""},
        "logo": _image(profile.logo, profile.logo_type),
        "signature": _image(profile.signature, profile.signature_type),
        "stamp": _image(profile.stamp, profile.stamp_type),
    }


def _decision_maker(company) -> object | None:
    contacts = [c for c in getattr(company, "contacts", None) or []
                if getattr(c, "deleted_at", None) is None]
    return next((c for c in contacts if c.decision_maker), contacts[0] if contacts else None)


def buyer(company, contact=None) -> dict:
    if company is None:
        name = str(contact) if contact is not None else ""
        return {"type": "person", "name": name, "full_name": name, "inn": "", "kpp": "",
                "ogrn": "", "ogrnip": "", "address": "", "phone": getattr(contact, "phone", "")
                or "", "email": getattr(contact, "email", "") or "", "director": name,
                "director_title": "", "basis": "", "passport": None, "bank": None}
    kind = company.kind or "legal"
    head = _decision_maker(company)
    passport = None
    if company.passport_series or company.passport_number:
        passport = {"series": company.passport_series or "",
                    "number": company.passport_number or "", "issued": ""}
    bank = None
    if company.bank_name or company.settlement_account:
        bank = {"name": company.bank_name or "", "bik": company.bik or "",
                "corr_account": company.correspondent_account or "",
                "account": company.settlement_account or ""}
    return {
        "type": kind, "name": company.name, "full_name": company.full_name or company.name,
        "inn": company.inn or "", "kpp": company.kpp or "", "ogrn": company.ogrn or "",
        "ogrnip": company.ogrnip or "",
        "address": company.legal_address or company.address or company.postal_address or "",
        "phone": company.phone or "", "email": company.email or "",
        "director": str(head) if head is not None and kind == "legal" else company.name,
        "director_title": (getattr(head, "position", "") or "Генеральный директор")
        if kind == "legal" else "",
        "basis": {"legal": "Устава", "entrepreneur": "свидетельства о регистрации ИП"}
        .get(kind, ""),
        "passport": passport, "bank": bank,
    }


def buyer_from_fields(values: dict, fallback: dict) -> dict:
    """Seed 003 keeps the client's requisites on the deal, by client type (legal entity,
    entrepreneur, person): those printed on its contract win over the company card."""
    kind = values.get("client_type")
    if kind not in ("legal", "entrepreneur", "person"):
        return fallback
    name = {"legal": values.get("legal_name"), "entrepreneur": values.get("entrepreneur_name"),
            "person": values.get("person_name")}[kind] or fallback["name"]
    if kind == "entrepreneur" and name and not name.startswith("ИП"):
        name = f"ИП {name}"
    passport = {"series": "", "number": values.get("passport") or "", "issued": ""} \
        if kind == "person" and values.get("passport") else fallback["passport"]
    bank = {"name": values["bank_details"], "bik": "", "corr_account": "", "account": ""} \
        if values.get("bank_details") else fallback["bank"]
    return {**fallback, "type": kind, "name": name, "full_name": name,
            "inn": values.get("inn") or fallback["inn"],
            "kpp": values.get("kpp") or ("" if kind != "legal" else fallback["kpp"]),
            "ogrn": values.get("ogrn") or fallback["ogrn"],
            "ogrnip": values.get("ogrnip") or fallback["ogrnip"],
            "address": values.get("legal_address") or values.get("registration_address")
            or fallback["address"],
            "director": fallback["director"] if kind == "legal" else name,
            "director_title": fallback["director_title"] if kind == "legal" else "",
            "basis": {"legal": "Устава", "entrepreneur": "свидетельства о регистрации ИП"}
            .get(kind, ""), "passport": passport, "bank": bank}


def items(record, default_rate: str) -> list[dict]:
    """The record's line items as the templates print them (documents/amounts.py: VAT taken
    out of each line's total, the line's rate from its product, else ours)."""
    lines = [line for line in getattr(record, "items", None) or []
             if getattr(line, "deleted_at", None) is None]
    out = []
    for n, line in enumerate(lines, 1):
        product = getattr(line, "product", None)
        rate = str(getattr(product, "vat_rate", None) or default_rate)
        out.append(item_line(n, line.name or str(product or ""), line.quantity or 0,
                             money(line.price), rate if rate in VAT_RATES else default_rate,
                             unit=line.unit or "шт.", sku=getattr(product, "sku", "") or ""))
    return out


def document_totals(rows: list[dict], fallback: Decimal) -> dict:
    """Of the lines; a record without lines (a budget typed by hand) prints its amount."""
    if rows:
        return totals(rows)
    total = money(fallback)
    return {"amount": total, "vat": Decimal("0.00"), "total": total, "vat_label": "Без НДС",
            "total_in_words": amount_in_words(total), "count": 0}


def record_amount(record) -> Decimal:
    for name in ("budget", "total", "amount"):
        value = getattr(record, name, None)
        if value is not None:
            return money(value)
    return Decimal("0.00")


def _person(user_id) -> dict:
    user = db.session.get(CrmUser, user_id) if user_id else None
    if user is None:
        return {"name": "", "phone": "", "email": "", "position": ""}
    return {"name": user.full_name, "phone": user.phone or "", "email": user.email or "",
            "position": user.position or ""}


def record_fields(record) -> dict:
    values = {k: v for k, v in record_values(record).items()
              if k not in HIDDEN and (v is None or isinstance(v, PLAIN))}
    person = _person(getattr(record, "responsible_id", None))
    for key in SCHEMA_FIELDS:
        values.setdefault(key, None)
    values.update({"id": record.id, "title": str(record),
                   "number": getattr(record, "number", None) or str(record.id),
                   "responsible": person["name"], "responsible_phone": person["phone"],
                   "responsible_email": person["email"],
                   "responsible_position": person["position"], "currency": "RUB"})
    return values


def _employee(record) -> dict:
    person = _person(getattr(record, "responsible_id", None))
    department = getattr(record, "department", None)
    head = getattr(department, "head", None)
    return {"name": person["name"], "position": person["position"],
            "department": getattr(department, "name", "") or "",
            "head_name": getattr(head, "full_name", "") or "",
            "head_position": getattr(head, "position", "") or ""}


def _kind_label(record, values: dict) -> str:
    """The request's kind in words: its process's first list field («Вид»), by the item's
    name."""
    process = process_of(record)
    field = next((f for f in getattr(process, "fields", ()) if f.type == "choice"), None)
    if field is None or not values.get(field.key):
        return getattr(process, "name", "") or ""
    item = db.session.scalar(select(ReferenceItem).join(ReferenceList).where(
        ReferenceList.code == field.list, ReferenceItem.code == str(values[field.key])))
    return item.label if item is not None else str(values[field.key])


def _request(record, values: dict) -> dict:
    amount = record_amount(record)
    days = None
    if getattr(record, "date_from", None) and getattr(record, "date_to", None):
        days = (record.date_to - record.date_from).days + 1
    return {"kind_label": _kind_label(record, values),
            "date_from": getattr(record, "date_from", None),
            "date_to": getattr(record, "date_to", None), "days": days,
            "reason": values.get("reason") or "", "amount": amount,
            "amount_in_words": amount_in_words(amount),
            "payee": values.get("payee") or "", "purpose": values.get("purpose") or "",
            "due_date": values.get("due_date"), "comment": values.get("comment") or ""}


def _payment(document, sell: dict, tot: dict) -> dict:
    vat = f"в т.ч. НДС {money_text(tot['vat'])} руб." if tot["vat"] else "без НДС"
    purpose = f"Оплата по счёту № {document.number} от {document.doc_date:%d.%m.%Y}, {vat}"
    qr = payment_qr_for(sell, tot["total"], purpose) if document.kind in INVOICES else None
    return {"purpose": purpose, "due_date": document.doc_date + dt.timedelta(days=5), "qr": qr}


def _whole(quantity: Decimal) -> Decimal:
    """1000.000 -> 1000, 2.500 -> 2.5: a count of places never shows trailing zeros."""
    return quantity.quantize(Decimal(1)) if quantity == quantity.to_integral() \
        else quantity.normalize()


def _shipment(values: dict, sell: dict, buy: dict, rows: list[dict]) -> dict:
    """The consignment of a deal: the parties, the places and one package line per item
    (weights and volumes where the process keeps them on the deal)."""
    packages = [{"marks": "", "count": _whole(r["quantity"]), "packing": "", "name": r["name"],
                 "gross_kg": None, "net_kg": None, "volume_m3": None} for r in rows]
    return {"sender": f"{sell['full_name']}, {sell['address']}".strip(", "),
            "consignee": f"{buy['full_name']}, {buy['address']}".strip(", "),
            "carrier": values.get("carrier") or values.get("transport_company") or "",
            "loading_place": values.get("loading_place") or sell["address"],
            "delivery_place": values.get("delivery_address") or buy["address"],
            "vehicle": values.get("vehicle") or "", "packages": packages,
            "gross_kg": values.get("gross_kg"), "net_kg": values.get("net_kg"),
            "volume_m3": values.get("volume_m3")}


def build_context(document, record) -> dict:
    profile = company_profile()
    sell = seller(profile)
    rows = items(record, profile.vat_rate or "22")
    tot = document_totals(rows, record_amount(record))
    values = record_fields(record)
    company = getattr(record, "company", None)
    buy = buyer_from_fields(values, buyer(company, getattr(record, "contact", None)))
    return {
        "doc": {"kind": document.kind, "title": KINDS[document.kind].title,
                "number": document.number, "date": document.doc_date,
                "city": profile.city or ""},
        "seller": sell, "buyer": buy,
        "record": values, "items": rows, "totals": tot,
        "payment": _payment(document, sell, tot),
        "shipment": _shipment(values, sell, buy, rows),
        **({"employee": _employee(record), "request": _request(record, values)}
           if document.entity == "request" else {"employee": None, "request": None}),
    }
