"""Every shipped template rendered on its sample: the PDF's text (pypdf) holds the number,
the parties, the totals and the amount in words; the only fonts embedded are Roboto."""
import io

import pypdf
import pytest

from documents.kinds import KINDS
from documents.render import render_pdf, shipped_template
from documents.samples import buyer, sample_context, sample_specification
from documents.sandbox import pdf_text
from documents.words import money


def _render(kind, context=None):
    context = context or sample_context(kind)
    data = render_pdf(shipped_template(kind), context)
    assert data.startswith(b"%PDF")
    return context, data, pdf_text(data).replace("\u00a0", " ")


def _fonts(data: bytes) -> set[str]:
    """The fonts text is actually drawn with (ReportLab lists Helvetica among a page's
    resources whatever the page uses, so the resources alone say nothing)."""
    names = set()

    def visit(text, _cm, _tm, font, _size):
        if text.strip() and font is not None:
            names.add(str(font["/BaseFont"]))
    for page in pypdf.PdfReader(io.BytesIO(data)).pages:
        page.extract_text(visitor_text=visit)
    return names


def _flat(text: str) -> str:
    return " ".join(text.split())


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_every_template_renders_in_russian_with_roboto(kind):
    context, data, text = _render(kind)
    flat = _flat(text)
    assert context["doc"]["number"] in flat
    assert context["seller"]["name"] in flat or context["seller"]["full_name"] in flat
    fonts = _fonts(data)
    assert fonts and all("Roboto" in name for name in fonts), fonts
    assert not any("Helvetica" in name or "Times" in name for name in fonts)
    if "items" in context and kind != "cmr" and kind != "packing_list":
        totals = context["totals"]
        assert money(totals["total"]).replace("\u00a0", " ") in flat
        assert totals["total_in_words"] in flat
        if kind != "supply_contract":  # its goods are in the specification
            assert context["items"][0]["name"][:30] in flat


@pytest.mark.parametrize("kind", ["invoice", "invoice_contract"])
def test_invoice_has_the_bank_block_and_totals(kind):
    context, _data, text = _render(kind)
    flat = _flat(text)
    for words in ("Банк получателя", "БИК", "Сч. №", "Получатель", "Итого:",
                  "В том числе НДС 22%:", "Всего к оплате:", "Товары (работы, услуги)",
                  context["seller"]["bank"]["account"], context["seller"]["bank"]["bik"],
                  context["buyer"]["full_name"]):
        assert words in flat, words
    if kind == "invoice":
        assert f"Счёт на оплату № {context['doc']['number']} от 30 ноября 2026 г." in flat
        assert f"Всего наименований {len(context['items'])}, на сумму" in flat
        assert "Руководитель" in flat and "Бухгалтер" in flat
        assert money(context["totals"]["vat"]).replace("\u00a0", " ") in flat
    else:
        assert "акцепт" in flat


def test_act_has_both_parties_and_the_closing_phrase():
    context, _data, text = _render("act")
    flat = _flat(text)
    assert "Исполнитель:" in flat and "Заказчик:" in flat
    assert "Вышеперечисленные услуги выполнены полностью и в срок" in flat
    assert "ИСПОЛНИТЕЛЬ" in flat and "ЗАКАЗЧИК" in flat


@pytest.mark.parametrize("buyer_type, expected", [
    ("legal", ["ОГРН 1037821012345", "на основании Устава", "КПП 781001001"]),
    ("entrepreneur", ["ОГРНИП 318502700012345", "Индивидуальный предприниматель"]),
    ("person", ["паспорт серии 45 12", "Паспорт: серия 45 12 № 345678", "гражданин(ка)"]),
])
def test_supply_contract_requisites_follow_the_buyer(buyer_type, expected):
    context = sample_context("supply_contract") | {"buyer": buyer(buyer_type)}
    _context, _data, text = _render("supply_contract", context)
    flat = _flat(text)
    for words in expected:
        assert words in flat, words
    if buyer_type == "person":
        assert "ОГРН" not in flat.split("Покупатель")[-1]


def test_specification_numbers_its_pages():
    context = sample_specification(60)
    _context, data, text = _render("specification", context)
    pages = len(pypdf.PdfReader(io.BytesIO(data)).pages)
    assert pages >= 2
    for page in range(1, pages + 1):
        assert f"стр. {page} из {pages}" in text
    assert "СПЕЦИФИКАЦИЯ" in text and "Приложение № 1" in text
    assert "Всего наименований 60" in _flat(text)


def test_cmr_has_its_24_numbered_boxes():
    _context, _data, text = _render("cmr")
    flat = _flat(text)
    for words in ("Отправитель", "Получатель", "Перевозчик", "Место разгрузки",
                  "Знаки и номера", "Вес брутто", "Груз получен", "CONSIGNMENT NOTE"):
        assert words in flat, words
    numbers = {token for token in flat.split() if token.isdigit() and int(token) <= 24}
    assert {str(n) for n in range(1, 25)} <= numbers


def test_hr_documents():
    context, _data, text = _render("leave_application")
    flat = _flat(text)
    assert "ЗАЯВЛЕНИЕ" in flat and "Прошу предоставить мне ежегодный оплачиваемый отпуск" in flat
    assert "с 14 декабря 2026 г. по 27 декабря 2026 г." in flat
    assert "14 календарных дней" in flat and context["employee"]["name"] in flat
    context, _data, text = _render("payment_request")
    flat = _flat(text)
    assert "ЗАЯВКА НА ОПЛАТУ" in flat and "86 400,00" in flat
    assert context["request"]["amount_in_words"] in flat and "Согласование" in flat


def test_packing_list_totals():
    context, _data, text = _render("packing_list")
    flat = _flat(text)
    assert "УПАКОВОЧНЫЙ ЛИСТ" in flat
    count = sum(p["count"] for p in context["shipment"]["packages"])
    assert f"Всего мест: {count}" in flat
