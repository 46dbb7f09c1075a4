"""PROVISIONAL (replaced by the docs-render branch): the kinds of documents."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class DocKind:
    key: str
    title: str
    template: str
    entities: tuple
    number_prefix: str = ""


_DEALS = ("deal", "order")
KINDS = {k.key: k for k in (
    DocKind("commercial_offer", "Коммерческое предложение", "commercial_offer.html",
            ("deal", "lead")),
    DocKind("invoice", "Счёт на оплату", "invoice.html", _DEALS),
    DocKind("invoice_contract", "Счёт-договор", "invoice_contract.html", _DEALS),
    DocKind("supply_contract", "Договор поставки", "supply_contract.html", _DEALS),
    DocKind("act", "Акт выполненных работ", "act.html", _DEALS),
    DocKind("specification", "Спецификация", "specification.html", _DEALS),
    DocKind("packing_list", "Упаковочный лист", "packing_list.html", _DEALS),
    DocKind("cmr", "CMR (международная товарно-транспортная накладная)", "cmr.html", _DEALS),
    DocKind("leave_application", "Заявление на отпуск / отгул", "leave_application.html",
            ("request",)),
    DocKind("payment_request", "Заявка на оплату", "payment_request.html", ("request",)),
)}
