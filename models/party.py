"""Counterparties (companies of three kinds) and contacts (people)."""
from __future__ import annotations

import enum
import re

from sqlalchemy import Boolean, ForeignKey, Integer, String, Text, func, or_, select
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.extensions import db
from models import requisites as rq
from models.base import AuditedMixin, CheckedMixin, Model, TimestampMixin, TrashableMixin


class CompanyKind(str, enum.Enum):
    legal = "legal"
    entrepreneur = "entrepreneur"
    person = "person"


COMPANY_KIND_LABELS = {
    CompanyKind.legal.value: "Юридическое лицо",
    CompanyKind.entrepreneur.value: "Индивидуальный предприниматель",
    CompanyKind.person.value: "Физическое лицо",
}


class Company(AuditedMixin, CheckedMixin, TimestampMixin, TrashableMixin, Model):
    __tablename__ = "company"
    __entity__ = "company"
    __label__ = "Контрагент"
    __choice_labels__ = {"kind": COMPANY_KIND_LABELS}
    __checked_fields__ = ("kind", "name", "inn", "kpp", "ogrn", "ogrnip", "bik",
                          "settlement_account", "correspondent_account", "passport_series",
                          "passport_number", "email")

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), nullable=False, default=CompanyKind.legal.value)
    name: Mapped[str] = mapped_column(String(300), nullable=False, index=True)
    full_name: Mapped[str | None] = mapped_column(String(500))
    inn: Mapped[str | None] = mapped_column(String(12), index=True)
    kpp: Mapped[str | None] = mapped_column(String(9))
    ogrn: Mapped[str | None] = mapped_column(String(13))
    ogrnip: Mapped[str | None] = mapped_column(String(15))
    legal_address: Mapped[str | None] = mapped_column(String(500))
    postal_address: Mapped[str | None] = mapped_column(String(500))
    bank_name: Mapped[str | None] = mapped_column(String(300))
    bik: Mapped[str | None] = mapped_column(String(9))
    settlement_account: Mapped[str | None] = mapped_column(String(20))
    correspondent_account: Mapped[str | None] = mapped_column(String(20))
    passport_series: Mapped[str | None] = mapped_column(String(4))
    passport_number: Mapped[str | None] = mapped_column(String(6))
    address: Mapped[str | None] = mapped_column(String(500))
    phone: Mapped[str | None] = mapped_column(String(64))
    email: Mapped[str | None] = mapped_column(String(320))
    website: Mapped[str | None] = mapped_column(String(300))
    note: Mapped[str | None] = mapped_column(Text)
    responsible_id: Mapped[int | None] = mapped_column(Integer, ForeignKey("ab_user.id"))

    responsible = relationship("CrmUser", foreign_keys=[responsible_id])
    contacts = relationship("Contact", back_populates="company")

    @property
    def kind_label(self) -> str:
        return COMPANY_KIND_LABELS.get(self.kind, self.kind or "")

    @classmethod
    def check_values(cls, v) -> dict[str, str]:
        errors: dict[str, str] = {}
        kind = v.kind or CompanyKind.legal.value
        if kind not in COMPANY_KIND_LABELS:
            errors["kind"] = "Выберите вид контрагента"
            return errors
        if not (v.name or "").strip():
            errors["name"] = "Укажите наименование"

        def need(field, message):
            if not (getattr(v, field) or "").strip():
                errors[field] = message

        def check(field, error):
            if (getattr(v, field) or "").strip() and field not in errors and error:
                errors[field] = error

        if kind == CompanyKind.legal.value:
            need("inn", "Для юридического лица укажите ИНН (10 цифр)")
            check("inn", rq.inn_error(v.inn, 10))
            check("kpp", rq.kpp_error(v.kpp))
            check("ogrn", rq.ogrn_error(v.ogrn))
        elif kind == CompanyKind.entrepreneur.value:
            need("inn", "Для индивидуального предпринимателя укажите ИНН (12 цифр)")
            check("inn", rq.inn_error(v.inn, 12))
            check("ogrnip", rq.ogrnip_error(v.ogrnip))
        else:
            check("inn", rq.inn_error(v.inn, 12))
            check("passport_series", None if (v.passport_series or "").isdigit()
                  and len(v.passport_series) == 4 else "Серия паспорта: 4 цифры")
            check("passport_number", None if (v.passport_number or "").isdigit()
                  and len(v.passport_number) == 6 else "Номер паспорта: 6 цифр")
        check("email", rq.email_error(v.email))
        if kind != CompanyKind.person.value:
            check("bik", rq.bik_error(v.bik))
            check("settlement_account", rq.settlement_account_error(v.settlement_account, v.bik))
            check("correspondent_account",
                  rq.correspondent_account_error(v.correspondent_account, v.bik))
        return errors

    def __str__(self) -> str:
        return self.name or ""


class Contact(AuditedMixin, CheckedMixin, TimestampMixin, TrashableMixin, Model):
    __tablename__ = "contact"
    __entity__ = "contact"
    __label__ = "Контакт"
    __checked_fields__ = ("last_name", "email", "email_extra")

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    last_name: Mapped[str] = mapped_column(String(100), nullable=False, index=True)
    first_name: Mapped[str | None] = mapped_column(String(100))
    middle_name: Mapped[str | None] = mapped_column(String(100))
    position: Mapped[str | None] = mapped_column(String(200))
    company_id: Mapped[int | None] = mapped_column(Integer, ForeignKey("company.id"), index=True)
    phone: Mapped[str | None] = mapped_column(String(64), index=True)
    phone_extra: Mapped[str | None] = mapped_column(String(64))
    email: Mapped[str | None] = mapped_column(String(320), index=True)
    email_extra: Mapped[str | None] = mapped_column(String(320))
    decision_maker: Mapped[bool] = mapped_column(Boolean, default=False, nullable=False)
    note: Mapped[str | None] = mapped_column(Text)

    company = relationship(Company, back_populates="contacts")

    @property
    def full_name(self) -> str:
        return " ".join(p for p in (self.last_name, self.first_name, self.middle_name) if p)

    @classmethod
    def check_values(cls, v) -> dict[str, str]:
        errors = {}
        if not (v.last_name or "").strip():
            errors["last_name"] = "Укажите фамилию"
        for field in ("email", "email_extra"):
            if rq.email_error(getattr(v, field)):
                errors[field] = rq.email_error(getattr(v, field))
        return errors

    def __str__(self) -> str:
        return self.full_name


# --- matching a lead's company and contact at conversion -----------------------------------

_LEGAL_FORMS = (("общество с ограниченной ответственностью", "ооо"),
                ("публичное акционерное общество", "пао"),
                ("закрытое акционерное общество", "зао"),
                ("открытое акционерное общество", "оао"),
                ("непубличное акционерное общество", "ао"),
                ("акционерное общество", "ао"),
                ("индивидуальный предприниматель", "ип"))
_QUOTES = re.compile(r"[\"'«»“”„‘’`]")


def name_key(value: str | None) -> str:
    """'ООО "Ромашка" ' and 'Общество с ограниченной ответственностью «ромашка»' -> the same
    key: people type one company's name in many ways."""
    text = " ".join(_QUOTES.sub(" ", value or "").lower().replace("ё", "е").split())
    for long, short in _LEGAL_FORMS:
        if text.startswith(long + " ") or text == long:
            text = short + text[len(long):]
            break
    return text


def _core_word(key: str) -> str:
    """The longest word of a name key without its legal form: the SQL pre-filter."""
    words = key.split()
    if len(words) > 1 and any(key.startswith(short + " ") for _, short in _LEGAL_FORMS):
        words = words[1:]
    return max(words, key=len, default="")


def _session():
    return db.session


def _same_inn(company: Company, inn: str) -> bool:
    """A company with another INN is another company, whatever its name or phone."""
    return not inn or not company.inn or company.inn.strip() == inn


def _by_names(names: list[str], inn: str) -> Company | None:
    keys = {name_key(n) for n in names if name_key(n)}
    for key in sorted(keys, key=len, reverse=True):
        core = _core_word(key)
        # SQLite lowers only ASCII: the usual spellings of the word are looked for in SQL,
        # the exact comparison is done on the key.
        spellings = {core, core.capitalize(), core.upper(), core.title()}
        query = select(Company).where(or_(*(column.contains(s) for s in spellings
                                            for column in (Company.name, Company.full_name))))
        for company in _session().scalars(query.order_by(Company.id)):
            if keys & {name_key(company.name), name_key(company.full_name)} \
                    and _same_inn(company, inn):
                return company
    return None


def _by_contacts(phone: str, email: str, inn: str) -> Company | None:
    for clause in ((func.lower(Company.email) == email.lower()) if email else None,
                   (Company.phone == phone) if phone else None):
        if clause is None:
            continue
        for company in _session().scalars(select(Company).where(clause).order_by(Company.id)):
            if _same_inn(company, inn):
                return company
    return None


def kind_for_inn(inn: str | None) -> str:
    """A new counterparty from a lead: 12 digits is an entrepreneur's INN."""
    return CompanyKind.entrepreneur.value if len((inn or "").strip()) == 12 \
        else CompanyKind.legal.value


def match_company(*, inn=None, full_name=None, name=None, short_name=None, phone=None,
                  email=None, contact=None) -> Company | None:
    """The existing company a lead speaks of: by INN, then by full or short name (any
    spelling of the quotes, case and legal form), then by the matched contact's company,
    then by phone or e-mail. Never one with another INN."""
    inn = (inn or "").strip()
    if inn:
        found = _session().scalar(select(Company).where(Company.inn == inn)
                                  .order_by(Company.id))
        if found is not None:
            return found
    found = _by_names([full_name, name, short_name], inn)
    if found is None and contact is not None and contact.company is not None \
            and _same_inn(contact.company, inn):
        found = contact.company
    return found or _by_contacts((phone or "").strip(), (email or "").strip(), inn)


def match_contact(*, phone=None, email=None) -> Contact | None:
    """The existing person by e-mail (any case), then by phone."""
    phone, email = (phone or "").strip(), (email or "").strip()
    if email:
        found = _session().scalar(select(Contact).where(
            func.lower(Contact.email) == email.lower()).order_by(Contact.id))
        if found is not None:
            return found
    if phone:
        return _session().scalar(select(Contact).where(Contact.phone == phone)
                                 .order_by(Contact.id))
    return None
