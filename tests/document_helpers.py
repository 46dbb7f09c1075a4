"""Shared by the document tests: our requisites, a deal with line items, running the
documents worker inline."""
from __future__ import annotations

from decimal import Decimal

from sqlalchemy import select

from app.extensions import db
from jobs import scheduler
from jobs.runner import InlineRunner
from models.deal import DealItem
from models.document import CompanyProfile
from models.requisites import make_settlement_account
from tests.helpers import legal_company
from tests.test_pipeline_fixtures import make_deal, make_pipeline

BIK = "044525225"


def fill_company_profile() -> CompanyProfile:
    profile = db.session.scalars(select(CompanyProfile)).first()
    profile.name = "ООО «Эко-Упаковка»"
    profile.full_name = "Общество с ограниченной ответственностью «Эко-Упаковка»"
    profile.inn, profile.kpp, profile.ogrn = "7736207543", "773601001", "1027700229193"
    profile.address = "117312, г. Москва, ул. Вавилова, д. 19"
    profile.city = "Москва"
    profile.director, profile.accountant = "Петров Пётр Петрович", "Сидорова Анна Ивановна"
    profile.bank_name, profile.bik = "ПАО СБЕРБАНК", BIK
    profile.corr_account = "30101810400000000225"
    profile.account = make_settlement_account("4070281093800000000", BIK)
    db.session.commit()
    return profile


def deal_with_items(title: str = "Поставка эко-пакетов", responsible: str = "manager",
                    pipeline=None):
    company = legal_company(full_name="Общество с ограниченной ответственностью «Ромашка»",
                            kpp="770701001", legal_address="г. Москва, ул. Ленина, д. 1")
    deal = make_deal(title, responsible, pipeline or make_pipeline(), company=company)
    deal.items.extend([
        DealItem(name="Пакет крафт 30×40", quantity=Decimal("1000"), price=Decimal("12.50"),
                 unit="шт"),
        DealItem(name="Коробка гофро", quantity=Decimal("150"), price=Decimal("900.00"),
                 unit="шт"),
    ])
    db.session.commit()
    return deal


def run_documents():
    """The scheduler's pass with the inline runner: hands pending outbox rows over and runs
    them (documents render here, after the request's commit)."""
    return scheduler.tick(runner=InlineRunner())
