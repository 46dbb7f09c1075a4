"""The kinds of documents the product prints, each with its shipped template."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class DocKind:
    key: str
    title: str
    template: str            # file name in pdf_templates/
    entities: tuple[str, ...]  # the records a document of this kind is made from
    number_prefix: str


def _kind(key, title, entities, prefix) -> DocKind:
    return DocKind(key, title, f"{key}.html", entities, prefix)


KINDS: dict[str, DocKind] = {kind.key: kind for kind in (
    _kind("commercial_offer", "Коммерческое предложение", ("deal", "lead"), "КП"),
    _kind("invoice", "Счёт на оплату", ("deal", "order"), "СЧ"),
    _kind("invoice_contract", "Счёт-договор", ("deal", "order"), "СД"),
    _kind("supply_contract", "Договор поставки", ("deal", "order"), "ДП"),
    _kind("act", "Акт выполненных работ", ("deal", "order"), "АКТ"),
    _kind("specification", "Спецификация", ("deal", "order"), "СП"),
    _kind("packing_list", "Упаковочный лист", ("deal", "order"), "УЛ"),
    _kind("cmr", "CMR (международная товарно-транспортная накладная)", ("deal", "order"),
          "CMR"),
    _kind("leave_application", "Заявление на отпуск / отгул", ("request",), "ЗО"),
    _kind("payment_request", "Заявка на оплату", ("request",), "ЗП"),
)}


@dataclass(frozen=True)
class ShippedTemplate:
    """A template the product ships for a kind: each kind's own (keyed by the kind) and the
    extra ones a shipped process names."""
    key: str
    kind: str
    name: str
    file: str


SHIPPED: dict[str, ShippedTemplate] = {
    **{k.key: ShippedTemplate(k.key, k.key, k.title, k.template) for k in KINDS.values()},
    # Seed 002: «КП генерируется из полей сделки и автоматически отправляется клиенту».
    "eco_commercial_offer": ShippedTemplate(
        "eco_commercial_offer", "commercial_offer", "КП по полям сделки (эко-упаковка)",
        "eco_commercial_offer.html"),
}
