"""Builders shared by the order, product and reference tests (no tests here)."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import select

from app.extensions import db
from models.base import acting_as
from models.order import Order, OrderItem, OrderStatus
from models.party import Company
from models.product import Product
from models.user import Department
from tests.helpers import ref_item, user

SHIP = dt.date(2026, 12, 15)


def department(code: str) -> Department:
    return db.session.scalar(select(Department).where(Department.code == code))


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

