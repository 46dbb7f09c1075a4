"""The payment QR of an invoice (ГОСТ Р 56042-2014): a bank app scans it and fills in the
transfer. The payload is `ST0001` + the encoding digit (2 = UTF-8), then `Key=Value` pairs
separated by `|`; Name, PersonalAcc, BankName, BIC and CorrespAcc are mandatory."""
from __future__ import annotations

import base64
import io
from decimal import ROUND_HALF_UP, Decimal

import segno

HEADER = "ST00012"  # format ST0001, encoding 2 = UTF-8
MANDATORY = ("Name", "PersonalAcc", "BankName", "BIC", "CorrespAcc")


def _clean(value) -> str:
    # '|' is the separator: a value may not carry one; line breaks would break scanners.
    return " ".join(str(value).replace("|", " ").split())


def payment_payload(*, name: str, personal_acc: str, bank_name: str, bic: str,
                    corresp_acc: str, payee_inn: str = "", kpp: str = "",
                    amount: Decimal | None = None, purpose: str = "") -> str:
    """The ГОСТ string; `amount` in roubles goes out as `Sum` in kopecks."""
    fields = [("Name", name), ("PersonalAcc", personal_acc), ("BankName", bank_name),
              ("BIC", bic), ("CorrespAcc", corresp_acc)]
    missing = [key for key, value in fields if not _clean(value or "")]
    if missing:
        raise ValueError("Для QR-кода оплаты не хватает реквизитов: " + ", ".join(missing))
    if payee_inn:
        fields.append(("PayeeINN", payee_inn))
    if kpp:
        fields.append(("KPP", kpp))
    if amount is not None:
        kopecks = (Decimal(amount) * 100).quantize(Decimal(1), rounding=ROUND_HALF_UP)
        fields.append(("Sum", str(int(kopecks))))
    if purpose:
        fields.append(("Purpose", purpose))
    return "|".join([HEADER] + [f"{key}={_clean(value)}" for key, value in fields])


def payment_qr_png(payload: str, scale: int = 4) -> bytes:
    """The QR as a PNG (error correction M, a quiet zone of 4 modules as scanners expect)."""
    out = io.BytesIO()
    segno.make_qr(payload, error="m", encoding="utf-8").save(
        out, kind="png", scale=scale, border=4)
    return out.getvalue()


def data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def payment_qr_for(seller: dict, amount, purpose: str) -> str | None:
    """The data: URI of the QR for a seller's bank block, or None when the block lacks a
    mandatory requisite (an invoice without a QR is still an invoice)."""
    bank = seller.get("bank") or {}
    try:
        payload = payment_payload(
            name=seller.get("full_name") or seller.get("name") or "",
            personal_acc=bank.get("account") or "", bank_name=bank.get("name") or "",
            bic=bank.get("bik") or "", corresp_acc=bank.get("corr_account") or "",
            payee_inn=seller.get("inn") or "", kpp=seller.get("kpp") or "",
            amount=amount, purpose=purpose)
    except ValueError:
        return None
    return data_uri(payment_qr_png(payload))
