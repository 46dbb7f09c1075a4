"""Builders shared by the order, product and reference tests (no tests here)."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from flask import g
from sqlalchemy import select

from app.extensions import db
from models.base import acting_as
from models.order import Order, OrderItem, OrderStatus
from models.party import Company
from models.product import Product
from models.reference import ReferenceItem, ReferenceList
from models.user import CrmUser, Department

SHIP = dt.date(2026, 12, 15)


def user(username: str) -> CrmUser:
    found = db.session.scalar(select(CrmUser).where(CrmUser.username == username))
    assert found is not None, username
    return found


def department(code: str) -> Department:
    return db.session.scalar(select(Department).where(Department.code == code))


def ref_item(list_code: str, code: str) -> ReferenceItem:
    return db.session.scalar(select(ReferenceItem).join(ReferenceList).where(
        ReferenceList.code == list_code, ReferenceItem.code == code))


def company(name: str = "ООО «Ромашка»") -> Company:
    obj = Company(kind="person", name=name)
    db.session.add(obj)
    db.session.commit()
    return obj


def product(name: str = "Коробка", price: str = "100.00", sku: str | None = None,
            is_grey: bool = False, dep: str = "execution", resp: str = "executor",
            **kw) -> Product:
    obj = Product(name=name, sku=sku, unit="шт", price=Decimal(price), vat_rate="20",
                  is_grey=is_grey, department_id=department(dep).id,
                  responsible_id=user(resp).id, **kw)
    db.session.add(obj)
    db.session.commit()
    return obj


def order(company_obj: Company, responsible: str = "manager", executor: str | None = None,
          status: str = OrderStatus.request.value, lines: list[tuple[Product, str]] = (),
          source: str | None = "call", creator: str | None = None, **kw) -> Order:
    """An order written directly (as a job or the demo would), lines as (product, qty)."""
    actor = user(creator or responsible).id
    with acting_as(actor):
        obj = Order(company=company_obj, contract="№ 1 от 01.11.2026", ship_date=SHIP,
                    responsible=user(responsible),
                    executor=user(executor) if executor else None,
                    source=ref_item("lead_source", source) if source else None,
                    status=status, **kw)
        for prod, qty in lines:
            obj.items.append(OrderItem(product=prod, quantity=Decimal(qty)))
        db.session.add(obj)
        db.session.commit()
    return obj



@pytest.fixture(autouse=True)
def _own_user_per_request(monkeypatch):
    """Import this into a test module: every request of conftest's clients loads its own
    user. The tests share one app context, so Flask's `g` (where Flask-Login caches the
    user) outlives a request: without this, the first user of a test would answer for every
    client of that test."""
    from tests import conftest

    for name in ("__init__", "get", "post", "api"):
        original = getattr(conftest.Client, name)

        def fresh(self, *args, _original=original, **kwargs):
            g.pop("_login_user", None)
            return _original(self, *args, **kwargs)

        monkeypatch.setattr(conftest.Client, name, fresh)
