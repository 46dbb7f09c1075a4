"""Sample contexts: realistic Russian data for previews, template checks, tests and the bench.

The context every template receives — plain dicts, lists, str, Decimal and date, never ORM
objects; the product builds the same shape from its records:

    doc:     {kind, title, number (str), date (date), city}
    seller:  {name, full_name, inn, kpp, ogrn, address, phone, email, director,
              director_title, accountant, bank: {name, bik, corr_account, account},
              logo, signature, stamp}                  # images: data: URIs or None
    buyer:   {type: "legal" | "entrepreneur" | "person", name, full_name, inn, kpp, ogrn,
              ogrnip, address, phone, email, director, director_title, basis («Устава»),
              passport: {series, number, issued} (a person; None otherwise),
              bank: {name, bik, corr_account, account} or None}
    record:  {id, title, number, responsible, responsible_phone, responsible_email,
              responsible_position, budget, currency, delivery_address, ship_date,
              payment_terms, comment}
    items:   [{n, name, sku, quantity (Decimal), unit («шт.»), price, vat_rate
              ("none" | "0" | "10" | "20" | "22"), amount (без НДС), vat_amount, total}]
             — documents/amounts.py: item_line() makes one, totals() the block below
    totals:  {amount, vat, total, vat_label («В том числе НДС 22%» | «Без НДС»),
              total_in_words, count}
    payment: {purpose, due_date, qr (data: URI or None — documents/qr.py: payment_qr_for)}
    shipment (cmr, packing_list): {sender, consignee, carrier, loading_place, delivery_place,
              vehicle, packages: [{marks, count, packing, name, gross_kg, net_kg,
              volume_m3}], gross_kg, net_kg, volume_m3}
    employee (leave_application, payment_request): {name, position, department, head_name,
              head_position}
    request (leave_application, payment_request): {kind_label, date_from, date_to, days,
              reason, amount, amount_in_words, payee, purpose, due_date, comment}

Deal and order kinds get doc, seller, buyer, record, items, totals, payment (and shipment
for cmr and packing_list); the request kinds get doc, seller (the employer), record,
employee and request. Templates use filters: money, qty, date («30 ноября 2026 г.»),
date_short, in_words, plural.
"""
from __future__ import annotations

import base64
import functools
import io
from datetime import date
from decimal import Decimal

from PIL import Image, ImageDraw

from documents.amounts import item_line, totals
from documents.kinds import KINDS
from documents.qr import payment_qr_for
from documents import words
from documents.words import amount_in_words

DOC_DATE = date(2026, 11, 30)

PRODUCTS = (
    ("Ноутбук Lenovo ThinkPad E16 Gen 2, 16\", Core i5, 16 ГБ, SSD 512 ГБ", "LNV-E16-G2",
     "шт.", "89900.00"),
    ("Монитор Dell P2425H 23,8\"", "DEL-P2425H", "шт.", "18490.00"),
    ("Док-станция USB-C с блоком питания 100 Вт", "DOCK-C100", "шт.", "7990.00"),
    ("Кабель витая пара U/UTP кат. 6, бухта 305 м", "UTP6-305", "бухта", "12350.50"),
    ("Источник бесперебойного питания 1500 ВА", "UPS-1500", "шт.", "24800.00"),
    ("Настройка рабочего места пользователя", "SRV-WS", "усл.", "3500.00"),
    ("Бумага офисная А4, 80 г/м², 500 листов", "PAP-A4-80", "пачка", "459.90"),
    ("Картридж лазерный совместимый, ресурс 3000 страниц", "CRT-3000", "шт.", "2150.00"),
)


def _png(draw_on, size=(240, 240)) -> str:
    image = Image.new("RGBA", size, (255, 255, 255, 0))
    draw_on(ImageDraw.Draw(image))
    out = io.BytesIO()
    image.save(out, format="PNG")
    return "data:image/png;base64," + base64.b64encode(out.getvalue()).decode("ascii")


@functools.cache
def sample_images() -> dict:
    """A round blue stamp, a signature scrawl and a logo, drawn rather than shipped."""
    def stamp(d):
        d.ellipse((6, 6, 234, 234), outline=(30, 60, 170, 255), width=6)
        d.ellipse((40, 40, 200, 200), outline=(30, 60, 170, 255), width=3)
        d.line((70, 120, 170, 120), fill=(30, 60, 170, 255), width=5)

    def signature(d):
        d.line([(10, 60), (40, 20), (60, 70), (90, 25), (120, 65), (180, 35)],
               fill=(20, 30, 120, 255), width=4)

    def logo(d):
        d.rectangle((0, 0, 90, 90), fill=(200, 40, 40, 255))
        d.rectangle((100, 30, 230, 60), fill=(60, 60, 60, 255))
    return {"stamp": _png(stamp), "signature": _png(signature, (200, 90)),
            "logo": _png(logo, (240, 90))}


def seller() -> dict:
    images = sample_images()
    return {
        "name": "ООО «Северный ветер»",
        "full_name": "Общество с ограниченной ответственностью «Северный ветер»",
        "inn": "7704123456", "kpp": "770401001", "ogrn": "1157746123456",
        "address": "119021, г. Москва, ул. Льва Толстого, д. 16, офис 305",
        "phone": "+7 (495) 123-45-67", "email": "info@severveter.ru",
        "director": "Иванов Сергей Петрович", "director_title": "Генеральный директор",
        "accountant": "Смирнова Ольга Викторовна",
        "bank": {"name": "ПАО Сбербанк, г. Москва", "bik": "044525225",
                 "corr_account": "30101810400000000225", "account": "40702810938000123456"},
        "logo": images["logo"], "signature": images["signature"], "stamp": images["stamp"],
    }


def buyer(kind: str = "legal") -> dict:
    common = {"type": kind, "inn": "", "kpp": "", "ogrn": "", "ogrnip": "", "phone": "",
              "email": "", "director": "", "director_title": "", "basis": "",
              "passport": None, "bank": None}
    if kind == "entrepreneur":
        return common | {
            "name": "ИП Кузнецова Анна Михайловна",
            "full_name": "Индивидуальный предприниматель Кузнецова Анна Михайловна",
            "inn": "503212345678", "ogrnip": "318502700012345",
            "address": "141400, Московская обл., г. Химки, ул. Московская, д. 21, кв. 8",
            "phone": "+7 (916) 555-12-34", "email": "kuznetsova.am@mail.ru",
            "director": "Кузнецова Анна Михайловна",
            "director_title": "Индивидуальный предприниматель",
            "basis": "свидетельства о государственной регистрации",
            "bank": {"name": "АО «Т-Банк»", "bik": "044525974",
                     "corr_account": "30101810145250000974", "account": "40802810500001234567"}}
    if kind == "person":
        return common | {
            "name": "Петров Алексей Николаевич", "full_name": "Петров Алексей Николаевич",
            "inn": "771512345678",
            "address": "127018, г. Москва, ул. Сущёвский Вал, д. 5, стр. 1, кв. 42",
            "phone": "+7 (903) 111-22-33", "email": "a.petrov@yandex.ru",
            "passport": {"series": "45 12", "number": "345678",
                         "issued": "ОВД «Марьина Роща» г. Москвы, 12.03.2013, код 770-095"}}
    return common | {
        "name": "АО «Техноком»",
        "full_name": "Акционерное общество «Техноком»",
        "inn": "7810654321", "kpp": "781001001", "ogrn": "1037821012345",
        "address": "196084, г. Санкт-Петербург, Московский пр., д. 115, лит. А, пом. 12-Н",
        "phone": "+7 (812) 765-43-21", "email": "zakupki@technocom.spb.ru",
        "director": "Волков Дмитрий Александрович", "director_title": "Генеральный директор",
        "basis": "Устава",
        "bank": {"name": "Филиал «Северная столица» АО «Райффайзенбанк»", "bik": "044030723",
                 "corr_account": "30101810100000000723", "account": "40702810103000098765"}}


def sample_items(count: int = len(PRODUCTS)) -> list[dict]:
    items = []
    for n in range(1, count + 1):
        name, sku, unit, price = PRODUCTS[(n - 1) % len(PRODUCTS)]
        if count > len(PRODUCTS):
            name = f"{name}, партия {(n - 1) // len(PRODUCTS) + 1}"
            sku = f"{sku}-{n:04d}"
        quantity = Decimal((n * 7) % 23 + 1) if unit != "бухта" else Decimal("2.5")
        items.append(item_line(n, name, quantity, Decimal(price), "22", unit, sku))
    return items


def record(number: str) -> dict:
    return {"id": 1042, "title": "Поставка оргтехники для нового офиса АО «Техноком»",
            "number": number, "responsible": "Орлова Мария Игоревна",
            "responsible_phone": "+7 (495) 123-45-67, доб. 214",
            "responsible_email": "m.orlova@severveter.ru",
            "responsible_position": "Менеджер по продажам",
            "budget": Decimal("1250000.00"), "currency": "RUB",
            "delivery_address": "196084, г. Санкт-Петербург, Московский пр., д. 115, склад 3",
            "ship_date": date(2026, 12, 10),
            "payment_terms": "100% предоплата в течение 5 банковских дней",
            "comment": "Доставка до склада покупателя, разгрузка силами покупателя."}


def shipment(items: list[dict]) -> dict:
    packages = []
    for item in items:
        gross = (item["quantity"] * Decimal("3.4")).quantize(Decimal("0.1"))
        net = (gross * Decimal("0.88")).quantize(Decimal("0.1"))
        volume = (item["quantity"] * Decimal("0.018")).quantize(Decimal("0.001"))
        packages.append({"marks": f"СВ-{item['n']:03d}", "count": int(item["quantity"]),
                         "packing": "Коробка", "name": item["name"], "gross_kg": gross,
                         "net_kg": net, "volume_m3": volume})
    return {
        "sender": "ООО «Северный ветер», 119021, Россия, г. Москва, ул. Льва Толстого, д. 16",
        "consignee": "ТОО «Алатау Трейд», 050000, Казахстан, г. Алматы, пр. Абая, д. 52",
        "carrier": "ООО «ТрансЛогистик», 141402, Россия, г. Химки, ул. Заводская, д. 3",
        "loading_place": "Россия, г. Москва, 10.12.2026",
        "delivery_place": "Казахстан, г. Алматы",
        "vehicle": "Volvo FH А123ВС 777 / полуприцеп ВХ 4567 77",
        "packages": packages,
        "gross_kg": sum((p["gross_kg"] for p in packages), Decimal(0)),
        "net_kg": sum((p["net_kg"] for p in packages), Decimal(0)),
        "volume_m3": sum((p["volume_m3"] for p in packages), Decimal(0)),
    }


def employee() -> dict:
    return {"name": "Соколова Елена Андреевна", "position": "Ведущий бухгалтер",
            "department": "Бухгалтерия", "head_name": "Смирнова Ольга Викторовна",
            "head_position": "Главный бухгалтер"}


def _doc(kind: str, number: str) -> dict:
    return {"kind": kind, "title": KINDS[kind].title, "number": number, "date": DOC_DATE,
            "city": "г. Москва"}


def sample_context(kind: str, items: list[dict] | None = None) -> dict:
    if kind not in KINDS:
        raise KeyError(kind)
    number = f"{KINDS[kind].number_prefix}-2026-00127"
    if kind in ("leave_application", "payment_request"):
        return _request_context(kind, number)
    items = sample_items() if items is None else items
    block = totals(items)
    the_seller = seller()
    vat = (f"в т.ч. НДС {words.money(block['vat'])}" if block["vat"] else "без НДС")
    purpose = f"Оплата по счёту № {number} от 30.11.2026, {vat}"
    context = {
        "doc": _doc(kind, number), "seller": the_seller,
        "buyer": buyer("person" if kind == "invoice_contract" else "legal"),
        "record": record(number), "items": items, "totals": block,
        "payment": {"purpose": purpose, "due_date": date(2026, 12, 5),
                    "qr": payment_qr_for(the_seller, block["total"], purpose)},
    }
    if kind in ("cmr", "packing_list"):
        context["shipment"] = shipment(items)
    return context


def _request_context(kind: str, number: str) -> dict:
    if kind == "leave_application":
        request = {"kind_label": "ежегодный оплачиваемый отпуск",
                   "date_from": date(2026, 12, 14), "date_to": date(2026, 12, 27), "days": 14,
                   "reason": "", "amount": None, "amount_in_words": "", "payee": "",
                   "purpose": "", "due_date": None, "comment": ""}
    else:
        amount = Decimal("86400.00")
        request = {"kind_label": "оплата поставщику", "date_from": None, "date_to": None,
                   "days": None, "reason": "Продление лицензий на 12 месяцев",
                   "amount": amount, "amount_in_words": amount_in_words(amount),
                   "payee": "ООО «Софтлайн Проекты», ИНН 7736227885, р/с 40702810100000012345 "
                            "в ПАО Сбербанк, БИК 044525225",
                   "purpose": "Оплата по счёту № 4512 от 25.11.2026 за лицензии 1С, "
                              "в т.ч. НДС 22% 15 580,33",
                   "due_date": date(2026, 12, 4),
                   "comment": "Текущие лицензии истекают 10.12.2026."}
    return {"doc": _doc(kind, number), "seller": seller(), "record": record(number),
            "employee": employee(), "request": request}


def sample_specification(n_items: int) -> dict:
    """The specification with `n_items` lines: 600 make about 25 pages (the big bench)."""
    return sample_context("specification", sample_items(n_items))
