"""PROVISIONAL (written by the docs-screens branch so its tests run; the docs-render
branch's version replaces it): a sample context of each kind for previews and checks."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

from documents.kinds import KINDS


def sample_context(kind: str) -> dict:
    spec = KINDS[kind]
    total = Decimal("27000.00")
    return {
        "doc": {"title": spec.title, "number": "1", "date": dt.date.today(),
                "date_text": f"{dt.date.today():%d.%m.%Y}"},
        "seller": {"name": "ООО «Пример»", "inn": "7736207543", "kpp": "773601001"},
        "buyer": {"name": "ООО «Ромашка»", "inn": "7707083893", "kpp": "770701001"},
        "items": [{"n": 1, "name": "Пакет крафт 30×40", "quantity": Decimal("1000"),
                   "unit": "шт", "price": Decimal("12.50"), "total": Decimal("12500.00")},
                  {"n": 2, "name": "Коробка гофро", "quantity": Decimal("15"), "unit": "шт",
                   "price": Decimal("966.67"), "total": Decimal("14500.00")}],
        "totals": {"total": total, "vat": Decimal("4500.00"), "amount": Decimal("22500.00"),
                   "total_in_words": "Двадцать семь тысяч рублей 00 копеек"},
    }
