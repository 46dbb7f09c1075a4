"""Item lines and totals as the templates receive them. A price is what the buyer pays per
unit, VAT included when there is VAT («В том числе НДС»); the VAT of a line is taken out of
its total and rounded to kopecks, and the document's VAT is the sum of its lines'."""
from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

from documents.words import amount_in_words

CENT = Decimal("0.01")
VAT_RATES = ("none", "0", "10", "20", "22")


def _round(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def item_line(n: int, name: str, quantity, price, vat_rate: str = "22", unit: str = "шт.",
              sku: str = "") -> dict:
    if vat_rate not in VAT_RATES:
        raise ValueError(f"Неизвестная ставка НДС: {vat_rate}")
    quantity, price = Decimal(quantity), Decimal(price)
    total = _round(quantity * price)
    rate = Decimal(0) if vat_rate == "none" else Decimal(vat_rate)
    vat = _round(total * rate / (100 + rate))
    return {"n": n, "name": name, "sku": sku, "quantity": quantity, "unit": unit,
            "price": price, "vat_rate": vat_rate, "amount": total - vat, "vat_amount": vat,
            "total": total}


def vat_label(items: list[dict]) -> str:
    rates = {item["vat_rate"] for item in items}
    if not rates or rates == {"none"}:
        return "Без НДС"
    if len(rates) == 1:
        return f"В том числе НДС {rates.pop()}%"
    return "В том числе НДС"


def totals(items: list[dict]) -> dict:
    amount = sum((item["amount"] for item in items), Decimal(0))
    vat = sum((item["vat_amount"] for item in items), Decimal(0))
    total = amount + vat
    return {"amount": amount, "vat": vat, "total": total, "vat_label": vat_label(items),
            "total_in_words": amount_in_words(total), "count": len(items)}
