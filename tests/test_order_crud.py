"""Customer orders through the screens and the REST API: create, lines, totals, numbers."""
from __future__ import annotations

from decimal import Decimal

import pytest
from flask import g

from app.extensions import db
from errors import FieldErrors
from models.order import Order, OrderItem
from models.registry import get_record
from tests.test_order_support import company, order, product, ref_item, user


def _form(comp, **over):
    data = {"status": "request", "company": str(comp.id), "contract": "№ 15/26 от 01.03.2026",
            "ship_date": "2026-12-15", "responsible": str(user("manager").id),
            "executor": str(user("executor").id),
            "source": str(ref_item("lead_source", "call").id)}
    data.update(over)
    return data


def test_order_created_through_form_gets_number_and_source(login):
    comp = company()
    manager = login("manager")
    resp = manager.post("/orderview/add", data=_form(comp), follow_redirects=True)
    assert resp.status_code == 200
    saved = db.session.query(Order).one()
    assert saved.number == f"ЗП-{saved.id:06d}"
    assert saved.status == "request"
    assert saved.source.code == "call"
    assert saved.created_by_id == user("manager").id
    assert saved.date is not None and saved.total == Decimal("0.00")
    listing = manager.get("/orderview/list/").get_data(as_text=True)
    assert saved.number in listing and "Заявка" in listing


def test_order_numbers_are_unique_and_sequential(client):
    comp = company()
    first = order(comp)
    second = order(comp)
    assert first.number != second.number
    assert {first.number, second.number} == {f"ЗП-{first.id:06d}", f"ЗП-{second.id:06d}"}


def test_line_item_copies_product_and_total_is_sum(client):
    comp = company()
    grey = product("Кровать «Домик»", "54900.00", is_grey=True, planned_cost=Decimal("30000"),
                   planned_hours=Decimal("6.5"))
    white = product("Матрас", "12345.67", dep="sales", resp="manager")
    ordr = order(comp)
    resp = client.post(f"/orderitemview/add?_flt_0_order={ordr.id}",
                       data={"order": str(ordr.id), "product": str(grey.id), "quantity": "2"},
                       follow_redirects=True)
    assert resp.status_code == 200
    resp = client.post("/orderitemview/add",
                       data={"order": str(ordr.id), "product": str(white.id), "quantity": "3",
                             "name": "Матрас ортопедический", "price": ""},
                       follow_redirects=True)
    assert resp.status_code == 200
    db.session.expire_all()
    lines = {i.product_id: i for i in db.session.get(Order, ordr.id).items}
    line = lines[grey.id]
    assert line.is_grey is True
    assert line.department_id == grey.department_id
    assert line.responsible_id == user("executor").id
    assert line.name == "Кровать «Домик»" and line.unit == "шт"
    assert line.price == Decimal("54900.00") and line.amount == Decimal("109800.00")
    assert line.planned_cost == Decimal("30000.00") and line.planned_hours == Decimal("6.50")
    other = lines[white.id]
    assert other.name == "Матрас ортопедический" and other.is_grey is False
    assert other.responsible_id == user("manager").id
    assert other.amount == Decimal("37037.01")
    total = db.session.get(Order, ordr.id).total
    assert total == Decimal("146837.01")
    page = client.get(f"/orderview/show/{ordr.id}").get_data(as_text=True)
    assert "146\xa0837,01\xa0₽" in page  # the order's total in roubles
    assert "Кровать «Домик»" in page  # the lines on the order's page


def test_total_follows_line_edit_and_delete(client):
    comp = company()
    box = product("Коробка", "1073782.00")
    ordr = order(comp, lines=[(box, "1"), (box, "2")])
    assert ordr.total == Decimal("3221346.00")
    first, second = ordr.items
    resp = client.post(f"/orderitemview/edit/{second.id}",
                       data={"product": str(box.id), "quantity": "0.5", "price": "1073782",
                             "name": "Коробка", "unit": "шт"}, follow_redirects=True)
    assert resp.status_code == 200
    db.session.expire_all()
    assert db.session.get(Order, ordr.id).total == Decimal("1610673.00")
    client.post(f"/orderitemview/delete/{first.id}", follow_redirects=True)
    db.session.expire_all()
    reloaded = db.session.get(Order, ordr.id)
    assert len(reloaded.items) == 1 and reloaded.total == Decimal("536891.00")
    listing = client.get("/orderview/list/").get_data(as_text=True)
    assert "536\xa0891,00\xa0₽" in listing


def test_order_and_lines_through_api(login):
    comp = company()
    box = product("Коробка", "100.50", is_grey=True)
    manager = login("manager")
    resp = manager.api("post", "/api/v1/order/", json={
        "company": comp.id, "contract": "№ 7 от 02.11.2026", "ship_date": "2026-12-01",
        "responsible": user("manager").id, "source": ref_item("lead_source", "website").id,
        "requires_approval": True})
    assert resp.status_code == 201, resp.json
    oid = resp.json["id"]
    line = manager.api("post", "/api/v1/order_item/", json={
        "order": oid, "product": box.id, "quantity": 4})
    assert line.status_code == 201, line.json
    shown = manager.api("get", f"/api/v1/order_item/{line.json['id']}").json["result"]
    assert shown["is_grey"] is True and Decimal(str(shown["amount"])) == Decimal("402.00")
    assert shown["responsible"]["id"] == user("executor").id
    got = manager.api("get", f"/api/v1/order/{oid}").json["result"]
    assert got["number"].startswith("ЗП-") and Decimal(str(got["total"])) == Decimal("402.00")
    assert got["company"]["id"] == comp.id and got["requires_approval"] is True
    assert "password" not in str(got)
    put = manager.api("put", f"/api/v1/order/{oid}", json={
        "status": "open", "executor": user("executor").id, "version": got["version"]})
    assert put.status_code == 200, put.json
    db.session.expire_all()
    saved = db.session.get(Order, oid)
    assert saved.status == "open" and saved.executor.username == "executor"
    listing = manager.api("get", "/api/v1/order/").json
    assert listing["count"] == 1 and listing["result"][0]["number"] == saved.number
    assert manager.api("delete", f"/api/v1/order/{oid}").status_code == 403  # manager: rw
    assert login("sales_head").api("delete", f"/api/v1/order/{oid}").status_code == 200


def test_order_edit_and_delete_through_form(client):
    comp = company()
    ordr = order(comp)
    resp = client.post(f"/orderview/edit/{ordr.id}",
                       data=_form(comp, contract="№ 99 от 05.11.2026", version="1",
                                  comment="Срочно"), follow_redirects=True)
    assert resp.status_code == 200
    db.session.expire_all()
    saved = db.session.get(Order, ordr.id)
    assert saved.contract == "№ 99 от 05.11.2026" and saved.comment == "Срочно"
    assert saved.version == 2
    client.post(f"/orderview/delete/{ordr.id}", follow_redirects=True)
    db.session.expire_all()
    assert get_record("order", ordr.id) is None  # in the recycle bin, its lines hidden with it
    assert db.session.query(OrderItem).count() == 0


def test_order_export_is_csv_in_russian(login):
    comp = company("ООО «Экспорт»")
    order(comp, lines=[(product(), "1")])
    resp = login("manager").get("/orderview/export/")
    body = resp.get_data(as_text=True)
    assert resp.status_code == 200 and "Номер" in body and "ООО «Экспорт»" in body


def test_order_based_on_another_record(client):
    comp = company()
    first = order(comp)
    payload = {"company": comp.id, "contract": "№ 8", "ship_date": "2026-12-01",
               "responsible": user("manager").id, "record_entity": "order",
               "record_id": 999}
    missing = client.api("post", "/api/v1/order/", json=payload)
    assert missing.status_code == 422
    assert "не найдена" in missing.json["message"]["record_id"][0]
    ok = client.api("post", "/api/v1/order/", json={**payload, "record_id": first.id})
    assert ok.status_code == 201, ok.json
    saved = db.session.get(Order, ok.json["id"])
    assert (saved.record_entity, saved.record_id) == ("order", first.id)


def test_api_info_offers_only_active_sources(login):
    info = login("manager").api("get", "/api/v1/order/_info?q=(keys:!(add_columns))")
    assert info.status_code == 200, info.json
    source = next(c for c in info.json["add_columns"] if c["name"] == "source")
    labels = {v["value"] for v in source["values"]}
    assert "Входящий звонок" in labels and "Дорого" not in labels  # not another list


def _line_screen(app):
    return next(v for v in app.appbuilder.baseviews if type(v).__name__ == "OrderItemView")


def test_line_screen_runs_the_base_save_checks(app):
    """The line screen's guard is the base screen's (version, the model's check, the
    process) plus the line's own: a line failing the model's check is refused at the save
    with the Russian message, and the change is rolled back."""
    box = product("Коробка", "100.00")
    ordr = order(company(), lines=[(box, "1")])
    line = ordr.items[0]
    with app.test_request_context():
        g.user = user("manager")
        line.quantity = Decimal(0)
        with pytest.raises(FieldErrors) as refused:
            _line_screen(app).pre_update(line)
    assert refused.value.errors == {"quantity": "Количество должно быть больше нуля"}
    assert db.session.get(OrderItem, line.id).quantity == Decimal("1.000")


@pytest.mark.parametrize("quantity, price, message", [
    ("Infinity", "100", "Количество должно быть больше нуля"),
    ("NaN", "100", "Количество должно быть больше нуля"),
    ("2", "Infinity", "Цена должна быть числом"),
    ("1000000000", "1", "Количество слишком велико"),
    ("1000000", "10000000", "Сумма позиции слишком велика: уменьшите количество или цену"),
], ids=["infinity", "nan", "price-infinity", "quantity-overflow", "amount-overflow"])
def test_line_form_refuses_numbers_the_line_cannot_hold(client, quantity, price, message):
    """Not a number, or more than the columns hold: the Russian message at the field, no
    error page, nothing saved (the order's total stays)."""
    box = product("Коробка", "100.00")
    ordr = order(company(), lines=[(box, "1")])
    line = ordr.items[0]
    resp = client.post(f"/orderitemview/edit/{line.id}",
                       data={"product": str(box.id), "quantity": quantity, "price": price,
                             "name": "Коробка", "unit": "шт"})
    assert resp.status_code == 200
    assert message in resp.get_data(as_text=True)
    added = client.post("/orderitemview/add", data={
        "order": str(ordr.id), "product": str(box.id), "quantity": quantity, "price": price})
    assert added.status_code == 200 and message in added.get_data(as_text=True)
    db.session.expire_all()
    kept = db.session.get(Order, ordr.id)
    assert [i.quantity for i in kept.items] == [Decimal("1.000")]
    assert kept.total == Decimal("100.00")
