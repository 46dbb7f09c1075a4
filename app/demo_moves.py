"""How `flask crm demo` moves a record along its process: it enters the first stage and goes
forward stage by stage through the transition service, as its responsible would, with the
fields each stage asks for filled first with realistic values. So a demo record has its
stage history, its tasks, timeline entries and messages, exactly as a user's record has."""
from __future__ import annotations

import datetime as dt
import io
import random
from decimal import Decimal

from sqlalchemy import select

from app.attachments import save_upload
from app.extensions import db
from errors import MissingFields
from models.base import acting_as
from models.deal import DealItem
from models.event import EventContactRow
from models.order import OrderItem
from models.party import Company
from models.reference import ReferenceItem, ReferenceList
from process.service import transition
from process.snapshot import current_stage, entity_of, process_of, record_values
from rules.engine import approval_only, why_not

SOURCE = "demo"
# A filled field may make others required (the client type asks for that type's
# requisites): a few rounds of filling before a move is given up.
FILL_ROUNDS = 4
LOST_SHARE = 0.15
# The reference list of each relationship a definition may require.
REFERENCE_LISTS = {"source": "lead_source", "lost_reason": "lost_reason",
                   "client_activity": "client_activity", "quality_reason": "lead_quality_reason",
                   "rejection_reason": "rejection_reason", "topic": "event_topic"}
COMPANY_TYPES = ["Производство", "Оптовая торговля", "Сеть кофеен", "Интернет-магазин",
                 "Ресторан", "Кондитерская фабрика"]
SITES = ["alfa-pack", "vector-trade", "granit-group", "meridian-market", "eco-sfera",
         "volga-snab", "kristall-torg", "region-service"]
FASTENINGS = ["Клей", "Скоба", "Замок-защёлка", "Без скрепления"]
PACKAGING = ["Крафт-пакет с плоскими ручками", "Гофрокороб четырёхклапанный",
             "Контейнер с крышкой", "Бумажный стакан с логотипом"]
SIZES = ["220×280×120 мм", "320×250×140 мм", "400×300×200 мм", "180×90×230 мм"]
TERMS = ["Доставка за счёт поставщика, отгрузка в течение 10 рабочих дней",
         "Самовывоз со склада, предоплата 50 %",
         "Отгрузка партиями раз в месяц, оплата по факту поставки"]
NOTES = ["Согласовано с клиентом по телефону", "Клиент просит держать в курсе сроков",
         "Требования уточнены на встрече", "Детали в переписке с клиентом"]
CONTENTS = ["Интересуется ценами и сроками поставки", "Просит прислать образцы продукции",
            "Готов обсудить годовой контракт", "Нужна консультация по характеристикам"]


def route(process) -> list[str]:
    """The stages a record passes in order: every open and won stage, not those beside the
    line (Отложенные) and not the lost ones."""
    return [s.key for s in process.stages if s.kind != "lost" and not s.aside]


def choose_path(rnd: random.Random, process) -> list[str]:
    """Where one demo record goes: a prefix of the route, now and then ending as lost. A
    funnel: more records stand on the early stages than on the late ones."""
    main = route(process)
    lost = [s.key for s in process.stages if s.kind == "lost"]
    reach = 1 + int(len(main) * rnd.random() ** 2)
    if lost and len(main) > 1 and rnd.random() < LOST_SHARE:
        return main[:min(reach, len(main) - 1)] + [rnd.choice(lost)]
    return main[:reach]


def walk(record, path: list[str], values: DemoValues) -> int:
    """Enters a new record (standing on `path[0]`) into its process and moves it on stage
    by stage, acting as its responsible. Stops where a move is refused for a reason the demo
    cannot fill. Returns how many stages it entered."""
    process = process_of(record)
    # A new record names its responsible by the relationship: the id comes at the insert.
    responsible = record.responsible_id or getattr(record.responsible, "id", None)
    moves = 0
    with acting_as(responsible):
        transition(record, path[0], source=SOURCE, from_key=None)
        for key in path[1:]:
            if _already_past(record, path, key):
                continue  # an effect of an earlier stage moved it on (lead quality → won)
            if not _fill_until_allowed(record, process, key, values):
                break
            transition(record, key, source=SOURCE, from_key=current_stage(record))
            moves += 1
        db.session.flush()
    return moves + 1


def _already_past(record, path: list[str], key: str) -> bool:
    now = current_stage(record)
    return now in path and path.index(now) >= path.index(key)


def _refusal(record, process, key: str):
    """What the service's `may_move` answers, for the process looked up once per record."""
    return why_not(process, current_stage(record), key, record_values(record, process))


def _fill_until_allowed(record, process, key: str, values: DemoValues) -> bool:
    if approval_only(process, key, record_values(record, process)):
        return False  # an approver's decision sets it: the demo record waits for it there
    for _ in range(FILL_ROUNDS):
        refusal = _refusal(record, process, key)
        if refusal is None:
            return True
        if not isinstance(refusal, MissingFields):
            return False
        if not all(values.fill(record, process, field) for field in refusal.errors):
            return False
        db.session.flush()  # new lines: the budget is their sum from the flush
    return _refusal(record, process, key) is None


def reference_items(list_code: str) -> list[ReferenceItem]:
    """The active items of a list but «Другое», in a stable order (the seed reproduces)."""
    return list(db.session.scalars(select(ReferenceItem).join(ReferenceList).where(
        ReferenceList.code == list_code, ReferenceItem.active.is_(True),
        ReferenceItem.is_other.is_(False)).order_by(ReferenceItem.sort_order,
                                                    ReferenceItem.id)))


def reference_item(rnd: random.Random, list_code: str) -> ReferenceItem | None:
    items = reference_items(list_code)
    return rnd.choice(items) if items else None


class DemoValues:
    """Realistic Russian values for the fields a stage asks for, drawn from the random
    generator of the run (the same seed gives the same values)."""

    def __init__(self, rnd: random.Random, ctx: dict, company: Company | None):
        self.rnd, self.ctx, self.company = rnd, ctx, company

    def fill(self, record, process, key: str) -> bool:
        """Fills `key` of `record`; False when the demo does not know how."""
        spec = next((f for f in process.fields if f.key == key), None)
        if spec is not None:
            value = self._custom(record, spec)
            if value is None:
                return False
            record.custom = {**(record.custom or {}), key: value}
            return True
        filler = getattr(self, f"_field_{key}", None)
        if filler is not None:
            return filler(record) is not False
        if key in REFERENCE_LISTS:
            item = reference_item(self.rnd, self._list_for(process, key))
            setattr(record, key, item)
            return item is not None
        return False

    @staticmethod
    def _list_for(process, key: str) -> str:
        if key == "lost_reason" and process.lost_reason_list:
            return process.lost_reason_list
        return REFERENCE_LISTS[key]

    # --- custom fields (the definition's own) ------------------------------------------
    def _custom(self, record, spec):
        known = getattr(self, f"_custom_{spec.key}", None)
        if known is not None:
            return known(record)
        return self._by_type(record, spec)

    def _by_type(self, record, spec):
        rnd, kind = self.rnd, spec.type
        if kind == "bool":
            return True
        if kind == "integer":
            return rnd.choice([10, 50, 100, 500, 1000])
        if kind == "money":
            return rnd.randrange(20_000, 900_000, 500)
        if kind == "percent":
            return rnd.choice([30, 50, 100])
        if kind == "date":
            return self._day(rnd.randint(3, 30))
        if kind == "datetime":
            day = self.ctx["today"] + dt.timedelta(days=rnd.randint(1, 14))
            return f"{day.isoformat()}T{rnd.randint(10, 17):02d}:00"
        if kind == "choice":
            item = reference_item(rnd, spec.list) if spec.list else None
            return item.code if item is not None else None
        if kind == "user":
            return record.responsible_id
        if kind == "contact":
            contact = self._contact()
            return contact.id if contact is not None else None
        if kind == "file":
            return self._document(record, spec.label).id
        if kind == "text":
            return rnd.choice(NOTES)
        return f"{spec.label}: {rnd.choice(NOTES).lower()}"

    def _day(self, days: int) -> str:
        return (self.ctx["today"] + dt.timedelta(days=days)).isoformat()

    def _contact(self):
        contacts = list(self.company.contacts) if self.company is not None else []
        return contacts[0] if contacts else None

    def _person(self) -> str:
        contact = self._contact()
        return contact.full_name if contact is not None else "Иванов Александр Сергеевич"

    def _address(self) -> str:
        company = self.company
        found = company and (company.postal_address or company.legal_address or company.address)
        return found or "г. Москва, ул. Ленина, д. 1"

    def _document(self, record, label: str):
        """A file on the record's «Файлы» tab (a file field holds its id)."""
        name = f"{label} — {record}.txt"
        text = (f"Демонстрационный документ «{label}» к записи «{record}».\n"
                "Создан командой `flask crm demo`.\n")
        return save_upload(io.BytesIO(text.encode("utf-8")), name, entity_of(record),
                           record.id, declared_type="text/plain",
                           user_id=record.responsible_id)

    def _custom_company_type(self, _record):
        return self.rnd.choice(COMPANY_TYPES)

    def _custom_website(self, _record):
        return f"https://{self.rnd.choice(SITES)}.ru"

    def _custom_kp_product(self, _record):
        return self.rnd.choice(self.ctx["products"]).name

    def _custom_kp_terms(self, _record):
        return self.rnd.choice(TERMS)

    def _custom_sample_sizes(self, _record):
        return self.rnd.choice(SIZES)

    def _custom_sample_fastening(self, _record):
        return self.rnd.choice(FASTENINGS)

    def _custom_packaging_type(self, _record):
        return self.rnd.choice(PACKAGING)

    def _custom_client_type(self, _record):
        return self.company.kind if self.company is not None else "legal"

    def _custom_company_short_name(self, record):
        return self.company.name if self.company is not None else str(record)

    def _custom_legal_name(self, record):
        return (self.company.full_name or self.company.name) if self.company else str(record)

    def _custom_decision_maker(self, _record):
        return self._person()

    _custom_client_name = _custom_person_name = _custom_entrepreneur_name = \
        _custom_decision_maker

    def _custom_company_contacts(self, _record):
        company = self.company
        parts = [company.phone, company.email] if company is not None else []
        return ", ".join(p for p in parts if p) or "+7 (495) 123-45-67"

    def _custom_decision_maker_contacts(self, _record):
        contact = self._contact()
        parts = [contact.phone, contact.email] if contact is not None else []
        return ", ".join(p for p in parts if p) or "+7 (916) 123-45-67"

    def _custom_phone(self, _record):
        contact = self._contact()
        return (contact.phone if contact is not None else None) or "+7 (916) 123-45-67"

    def _custom_email(self, _record):
        contact = self._contact()
        return (contact.email if contact is not None else None) or "client@example.ru"

    def _custom_delivery_address(self, _record):
        return self._address()

    _custom_company_postal_address = _custom_decision_maker_postal_address = \
        _custom_legal_address = _custom_registration_address = _custom_delivery_address

    def _custom_delivery_city(self, _record):
        address = self._address()
        return address.split(",")[0].removeprefix("г. ").strip()

    def _custom_passport(self, _record):
        rnd = self.rnd
        return f"{rnd.randint(10, 99)} {rnd.randint(10, 24)} {rnd.randint(0, 999999):06d}"

    def _requisite(self, name: str, fallback: str) -> str:
        return (getattr(self.company, name, None) if self.company is not None else None) \
            or fallback

    def _custom_inn(self, _record):
        return self._requisite("inn", "7707083893")

    def _custom_kpp(self, _record):
        return self._requisite("kpp", "770701001")

    def _custom_ogrn(self, _record):
        return self._requisite("ogrn", "1027700132195")

    def _custom_ogrnip(self, _record):
        return self._requisite("ogrnip", "304500116000157")

    def _custom_bank_details(self, _record):
        company = self.company
        if company is None or not company.settlement_account:
            return "р/с 40702810400000000001 в ПАО Сбербанк, БИК 044525225"
        return (f"р/с {company.settlement_account} в {company.bank_name}, "
                f"БИК {company.bik}, к/с {company.correspondent_account}")

    # --- the records' own fields ---------------------------------------------------------
    def _field_company(self, record):
        record.company = self.company or self.rnd.choice(self.ctx["companies"])

    def _field_contacts(self, record):
        contacts = list(self.company.contacts[:2]) if self.company is not None else []
        if not contacts:
            return False
        record.contacts = contacts

    def _field_contact_rows(self, record):
        contact = self._contact()
        record.contact_rows.append(EventContactRow(
            contact=contact, how_to_reach=contact.phone if contact is not None else
            "+7 (495) 123-45-67"))

    def _field_items(self, record):
        line = DealItem if entity_of(record) == "deal" else OrderItem
        for product in self.rnd.sample(self.ctx["products"], k=self.rnd.randint(1, 3)):
            record.items.append(line(product=product,
                                     quantity=Decimal(self.rnd.choice([1, 10, 50]))))

    _field_budget = _field_items  # the budget is the sum of the lines

    def _field_executor(self, record):
        record.executor = self.ctx["users"]["executor"]

    def _field_requires_approval(self, record):
        record.requires_approval = False

    def _field_content(self, record):
        record.content = self.rnd.choice(CONTENTS)

    def _field_company_name(self, record):
        record.company_name = self.company.name if self.company is not None else str(record)

    def _text_field(self, record, name: str):
        setattr(record, name, self.rnd.choice(NOTES))

    def _field_lost_comment(self, record):
        self._text_field(record, "lost_comment")

    def _field_quality_comment(self, record):
        self._text_field(record, "quality_comment")

    def _field_rejection_comment(self, record):
        self._text_field(record, "rejection_comment")

    def _field_activity_other(self, record):
        self._text_field(record, "activity_other")
