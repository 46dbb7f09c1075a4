"""Products (nomenclature) through the screens and the REST API."""
from __future__ import annotations

import html as htmllib
from decimal import Decimal

from app.extensions import db
from models.product import Product
from tests.test_order_support import department, product, user


def _form(**over):
    data = {"name": "Кровать детская «Домик»", "sku": "BED-80", "unit": "шт",
            "price": "1073782.00", "vat_rate": "20",
            "department": str(department("execution").id),
            "responsible": str(user("executor").id), "is_grey": "y",
            "planned_cost": "600000", "planned_hours": "12.5", "active": "y",
            "description": "Массив сосны"}
    data.update(over)
    return data


def _text(resp) -> str:
    return htmllib.unescape(resp.get_data(as_text=True))


def test_product_created_through_form(client):
    resp = client.post("/productview/add", data=_form(), follow_redirects=True)
    assert resp.status_code == 200
    saved = db.session.query(Product).one()
    assert saved.sku == "BED-80" and saved.is_grey is True and saved.vat_rate == "20"
    assert saved.price == Decimal("1073782.00") and saved.planned_hours == Decimal("12.50")
    assert saved.responsible.username == "executor"
    assert saved.department.code == "execution"
    listing = _text(client.get("/productview/list/"))
    assert "1\xa0073\xa0782,00\xa0₽" in listing and "Серый" in listing
    page = _text(client.get(f"/productview/show/{saved.id}"))
    assert "Учёт (серый/белый)" in page and "20%" in page
    add_form = _text(client.get("/productview/add"))
    assert "Учёт: серый" in add_form and "Без НДС" in add_form


def test_product_edit_unchecks_flags_and_delete(client):
    item = product("Коробка", sku="BOX-1", is_grey=True)
    resp = client.post(f"/productview/edit/{item.id}",
                       data=_form(name="Коробка большая", sku="BOX-1", is_grey="",
                                  active=""), follow_redirects=True)
    assert resp.status_code == 200
    db.session.expire_all()
    saved = db.session.get(Product, item.id)
    assert saved.name == "Коробка большая" and saved.is_grey is False and saved.active is False
    client.post(f"/productview/delete/{item.id}", follow_redirects=True)
    db.session.expire_all()
    assert db.session.get(Product, item.id) is None


def test_duplicate_sku_refused_at_the_field(client):
    product("Коробка", sku="BOX-1")
    resp = client.post("/productview/add", data=_form(sku="box-1"))
    page = _text(resp)
    assert resp.status_code == 200
    assert "Артикул «box-1» уже есть у другой номенклатуры" in page
    assert 'value="Кровать детская «Домик»"' in page  # the input is kept
    assert db.session.query(Product).count() == 1
    other = product("Пакет", sku="BAG-1")
    resp = client.post(f"/productview/edit/{other.id}", data=_form(sku="BOX-1"))
    assert "уже есть у другой номенклатуры" in _text(resp)
    db.session.expire_all()
    assert db.session.get(Product, other.id).sku == "BAG-1"
    # Saving a product with its own SKU is no duplicate; empty SKUs never collide.
    same = client.post(f"/productview/edit/{other.id}", data=_form(sku="BAG-1", name="Пакет"),
                       follow_redirects=True)
    assert same.status_code == 200
    client.post("/productview/add", data=_form(sku="", name="Без артикула 1"))
    client.post("/productview/add", data=_form(sku="  ", name="Без артикула 2"))
    assert db.session.query(Product).filter(Product.sku.is_(None)).count() == 2


def test_wrong_values_refused_with_russian_messages(client):
    resp = client.post("/productview/add", data=_form(price="-5", vat_rate="18", name=""))
    page = _text(resp)
    assert "Цена не может быть отрицательной" in page
    assert db.session.query(Product).count() == 0
    api = client.api("post", "/api/v1/product/", json={"name": "Х", "vat_rate": "18",
                                                       "price": -1})
    assert api.status_code == 422
    assert api.json["message"]["vat_rate"] == ["Ставка НДС: без НДС, 0%, 10%, 20% или 22%"]
    assert api.json["message"]["price"] == ["Цена не может быть отрицательной"]
    assert db.session.query(Product).count() == 0


def test_product_crud_through_api(client):
    resp = client.api("post", "/api/v1/product/", json={
        "name": "Стаканчик 250 мл", "sku": "CUP-250", "unit": "шт", "price": "3.40",
        "vat_rate": "10", "is_grey": True, "planned_cost": "1.10", "planned_hours": "0.01",
        "department": department("execution").id, "responsible": user("executor").id})
    assert resp.status_code == 201, resp.json
    pid = resp.json["id"]
    got = client.api("get", f"/api/v1/product/{pid}").json["result"]
    assert got["sku"] == "CUP-250" and got["is_grey"] is True
    assert got["responsible"] == {"id": user("executor").id}
    assert "password" not in str(got)
    dup = client.api("post", "/api/v1/product/", json={"name": "Другой", "sku": "cup-250"})
    assert dup.status_code == 422
    assert dup.json["message"]["sku"] == ["Артикул «cup-250» уже есть у другой номенклатуры"]
    put = client.api("put", f"/api/v1/product/{pid}", json={"price": "3.50", "active": False})
    assert put.status_code == 200, put.json
    db.session.expire_all()
    saved = db.session.get(Product, pid)
    assert saved.price == Decimal("3.50") and saved.active is False
    listing = client.api("get", "/api/v1/product/").json
    assert listing["count"] == 1
    assert client.api("delete", f"/api/v1/product/{pid}").status_code == 200
    assert db.session.query(Product).count() == 0


def test_manager_reads_products_but_cannot_change_them(login):
    item = product("Коробка", sku="BOX-1")
    manager = login("manager")
    assert manager.get("/productview/list/").status_code == 200
    assert manager.api("get", f"/api/v1/product/{item.id}").status_code == 200
    assert manager.api("post", "/api/v1/product/", json={"name": "Х"}).status_code == 403
    assert manager.api("put", f"/api/v1/product/{item.id}",
                       json={"price": "1"}).status_code == 403
    resp = manager.post(f"/productview/edit/{item.id}", data=_form(sku="BOX-1"))
    assert resp.status_code in (302, 403)
    db.session.expire_all()
    assert db.session.get(Product, item.id).name == "Коробка"
    # The head of execution maintains the nomenclature.
    head = login("execution_head")
    assert head.api("put", f"/api/v1/product/{item.id}",
                    json={"price": "7.00"}).status_code == 200
