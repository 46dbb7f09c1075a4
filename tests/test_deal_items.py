"""Line items, the computed budget and the payment schedule of a deal."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

from app.extensions import db
from models.deal import Deal, DealItem, PaymentScheduleEntry
from models.product import Product
from models.user import Department
from tests.helpers import user
from tests.test_pipeline_fixtures import make_deal, make_pipeline


def _product(**kw) -> Product:
    execution = db.session.query(Department).filter_by(code="execution").one()
    data = dict(name="Монтаж стеллажа", sku="MNT-1", unit="шт", price=Decimal("2500.00"),
                department_id=execution.id, responsible_id=user("executor").id,
                is_grey=True)
    data.update(kw)
    product = Product(**data)
    db.session.add(product)
    db.session.commit()
    return product


def _budget(deal_id) -> Decimal:
    db.session.expire_all()
    return db.session.get(Deal, deal_id).budget


def test_budget_is_the_sum_of_line_items_through_forms(login):
    deal = make_deal("Склад", "manager", make_pipeline())
    manager = login("manager")
    page = manager.get(f"/dealview/show/{deal.id}").get_data(as_text=True)
    assert f"/dealitemview/add?_flt_0_deal={deal.id}" in page  # add from the deal page
    resp = manager.post(f"/dealitemview/add?_flt_0_deal={deal.id}",
                        data={"name": "Стеллаж", "quantity": "3", "price": "1000.50"},
                        follow_redirects=True)
    assert resp.status_code == 200
    manager.post(f"/dealitemview/add?_flt_0_deal={deal.id}",
                 data={"name": "Доставка", "quantity": "1", "price": "500"})
    assert _budget(deal.id) == Decimal("3501.50")
    item = db.session.query(DealItem).filter_by(name="Стеллаж").one()
    assert item.amount == Decimal("3001.50")
    manager.post(f"/dealitemview/edit/{item.id}",
                 data={"deal": str(deal.id), "name": "Стеллаж", "quantity": "1",
                       "price": "1000.50"})
    assert _budget(deal.id) == Decimal("1500.50")
    manager_head = login("sales_head")
    manager_head.post(f"/dealitemview/delete/{item.id}")
    assert _budget(deal.id) == Decimal("500.00")
    page = manager.get(f"/dealview/show/{deal.id}").get_data(as_text=True)
    assert "Доставка" in page and "500,00\u00a0₽" in page


def test_manual_budget_is_kept(login):
    deal = make_deal("Ручной бюджет", "manager", make_pipeline(), budget="99999")
    resp = login("manager").api("post", "/api/v1/deal_item/",
                                json={"deal": deal.id, "name": "Позиция", "quantity": 2,
                                      "price": 10})
    assert resp.status_code == 201, resp.json
    assert _budget(deal.id) == Decimal("99999.00")


def test_line_item_copies_department_responsible_and_grey_flag(login):
    product = _product()
    deal = make_deal("С номенклатурой", "manager", make_pipeline())
    resp = login("manager").api("post", "/api/v1/deal_item/",
                                json={"deal": deal.id, "product": product.id, "quantity": 2})
    assert resp.status_code == 201, resp.json
    db.session.expire_all()
    item = db.session.get(DealItem, resp.json["id"])
    assert item.department.code == "execution"
    assert item.responsible.username == "executor"
    assert item.is_grey is True
    assert item.name == "Монтаж стеллажа" and item.price == Decimal("2500.00")
    assert item.amount == Decimal("5000.00")
    assert _budget(deal.id) == Decimal("5000.00")
    shown = login("manager").api("get", f"/api/v1/deal_item/{item.id}").json["result"]
    assert shown["is_grey"] is True and shown["department"]["id"] == item.department_id


def test_line_item_through_form_copies_from_product(login):
    product = _product(is_grey=False, sku="MNT-2")
    deal = make_deal("Форма", "manager", make_pipeline())
    login("manager").post(f"/dealitemview/add?_flt_0_deal={deal.id}",
                          data={"product": str(product.id), "quantity": "1"})
    item = db.session.query(DealItem).one()
    assert item.responsible_id == user("executor").id
    assert item.is_grey is False and item.department.code == "execution"


def test_inactive_product_is_not_offered(login):
    _product(name="Снятый товар", sku="OLD", active=False)
    _product(name="Живой товар", sku="NEW")
    deal = make_deal("Выбор", "manager", make_pipeline())
    manager = login("manager")
    # The product is a picker that searches on the server: what it offers a new line.
    found = manager.get("/dealitemview/form_picker/product?form=add&q=товар").get_json()
    texts = [r["text"] for r in found["results"]]
    assert any("Живой товар" in t for t in texts)
    assert not any("Снятый товар" in t for t in texts)
    html = manager.get(f"/dealitemview/add?_flt_0_deal={deal.id}").get_data(as_text=True)
    assert "Живой товар" not in html  # the form itself lists no products


def test_bad_line_item_is_refused(login):
    deal = make_deal("Проверки", "manager", make_pipeline())
    manager = login("manager")
    resp = manager.api("post", "/api/v1/deal_item/",
                       json={"deal": deal.id, "name": "Ноль", "quantity": 0, "price": 1})
    assert resp.status_code == 422
    assert resp.json["message"]["quantity"] == ["Количество должно быть больше нуля"]
    html = manager.post(f"/dealitemview/add?_flt_0_deal={deal.id}",
                        data={"name": "", "quantity": "1"}).get_data(as_text=True)
    assert "Укажите наименование или выберите номенклатуру" in html
    assert db.session.query(DealItem).count() == 0


def test_payment_schedule(login):
    deal = make_deal("Оплаты", "manager", make_pipeline(), budget="200000")
    manager = login("manager")
    resp = manager.post(f"/paymentscheduleview/add?_flt_0_deal={deal.id}",
                        data={"percent": "30", "planned_date": "2026-12-01"})
    assert resp.status_code == 302
    entry = db.session.query(PaymentScheduleEntry).one()
    assert entry.amount == Decimal("60000.00")  # from the budget
    assert entry.planned_date == dt.date(2026, 12, 1)
    bad = manager.api("post", "/api/v1/payment_schedule/",
                      json={"deal": deal.id, "percent": 120, "planned_date": "2026-12-10"})
    assert bad.status_code == 422
    assert bad.json["message"]["percent"] == ["Процент: от 0 до 100"]
    html = manager.post(f"/paymentscheduleview/add?_flt_0_deal={deal.id}",
                        data={"percent": "101", "planned_date": "2026-12-01"}
                        ).get_data(as_text=True)
    assert "Процент: от 0 до 100" in html
    assert db.session.query(PaymentScheduleEntry).count() == 1
    page = manager.get(f"/dealview/show/{deal.id}").get_data(as_text=True)
    assert "60\u00a0000,00\u00a0₽" in page and "01.12.2026" in page
