"""Order rules: required fields, source for new clients only, lines before leaving "заявка",
optimistic locking, row rules and the "Новые заказы" inbox."""
from __future__ import annotations

import html as htmllib

import pytest

from app.extensions import db
from models.order import Order
from models.user import Department
from tests.conftest import flashes
from tests.test_order_support import company, order, product, ref_item, user


def _form(comp, **over):
    data = {"status": "request", "company": str(comp.id) if comp else "__None",
            "contract": "№ 15/26 от 01.03.2026", "ship_date": "2026-12-15",
            "responsible": str(user("manager").id), "executor": "__None",
            "source": str(ref_item("lead_source", "call").id)}
    data.update(over)
    return data


def _text(resp) -> str:
    return htmllib.unescape(resp.get_data(as_text=True))


# --- required fields -------------------------------------------------------------------------

def test_form_refuses_missing_required_fields_in_russian(login):
    manager = login("manager")
    resp = manager.post("/orderview/add", data=_form(None, contract="", ship_date="",
                                                     responsible="__None", comment="черновик"))
    page = _text(resp)
    assert resp.status_code == 200
    for message in ("Укажите контрагента", "Укажите договор: номер и дату",
                    "Укажите дату отгрузки", "Укажите ответственного менеджера"):
        assert message in page
    assert "черновик" in page  # the input is kept
    assert db.session.query(Order).count() == 0


def test_api_refuses_missing_required_fields_with_422(login):
    resp = login("manager").api("post", "/api/v1/order/", json={"comment": "без полей"})
    assert resp.status_code == 422
    message = resp.json["message"]
    assert message["company"] == ["Обязательное поле"]
    assert message["ship_date"] == ["Обязательное поле"]
    assert db.session.query(Order).count() == 0
    comp = company()
    resp = login("manager").api("post", "/api/v1/order/", json={
        "company": comp.id, "ship_date": "2026-12-01", "responsible": user("manager").id,
        "source": ref_item("lead_source", "call").id})
    assert resp.status_code == 422
    assert resp.json["message"]["contract"] == ["Укажите договор: номер и дату"]
    bad = login("manager").api("post", "/api/v1/order/", json={
        "company": comp.id, "contract": "№ 1", "ship_date": "не дата",
        "responsible": user("manager").id})
    assert bad.status_code in (400, 422)
    assert db.session.query(Order).count() == 0


def test_lines_and_executor_required_before_leaving_request(client):
    comp = company()
    draft = order(comp)
    resp = client.post(f"/orderview/edit/{draft.id}",
                       data=_form(comp, status="open", version="1"))
    page = _text(resp)
    assert "должен содержать хотя бы одну позицию" in page
    assert "Укажите исполнителя или руководителя отдела исполнения" in page
    db.session.expire_all()
    assert db.session.get(Order, draft.id).status == "request"
    # API: the same rule, by field.
    put = client.api("put", f"/api/v1/order/{draft.id}", json={
        "status": "open", "executor": user("executor").id, "version": 1})
    assert put.status_code == 422
    assert "позицию" in put.json["message"]["status"][0]
    # With a line and an executor the order opens.
    client.post("/orderitemview/add", data={"order": str(draft.id),
                                            "product": str(product().id), "quantity": "1"})
    db.session.expire_all()
    version = db.session.get(Order, draft.id).version
    resp = client.post(f"/orderview/edit/{draft.id}",
                       data=_form(comp, status="open", executor=str(user("executor").id),
                                  version=str(version)), follow_redirects=True)
    assert resp.status_code == 200
    db.session.expire_all()
    assert db.session.get(Order, draft.id).status == "open"
    # The last line of an open order stays.
    line = db.session.get(Order, draft.id).items[0]
    assert client.api("delete", f"/api/v1/order_item/{line.id}").status_code == 400
    db.session.expire_all()
    assert len(db.session.get(Order, draft.id).items) == 1


def test_unknown_status_refused(client):
    comp = company()
    resp = client.api("post", "/api/v1/order/", json={
        "company": comp.id, "contract": "№ 1", "ship_date": "2026-12-01",
        "responsible": user("manager").id, "source": ref_item("lead_source", "call").id,
        "status": "shipped"})
    assert resp.status_code == 422
    assert resp.json["message"]["status"] == ["Выберите статус заказа из списка"]


# --- source: new clients only ----------------------------------------------------------------

def test_source_required_for_a_new_client(login):
    comp = company("ООО «Новичок»")
    manager = login("manager")
    resp = manager.post("/orderview/add", data=_form(comp, source="__None"))
    assert "Для нового клиента укажите источник" in _text(resp)
    assert db.session.query(Order).count() == 0
    api = manager.api("post", "/api/v1/order/", json={
        "company": comp.id, "contract": "№ 1", "ship_date": "2026-12-01",
        "responsible": user("manager").id})
    assert api.status_code == 422
    assert api.json["message"]["source"] == ["Для нового клиента укажите источник"]
    assert db.session.query(Order).count() == 0


def test_source_not_required_for_a_client_with_an_earlier_order(login):
    comp = company("ООО «Постоянный»")
    order(comp)
    manager = login("manager")
    resp = manager.post("/orderview/add", data=_form(comp, source="__None"),
                        follow_redirects=True)
    assert resp.status_code == 200
    assert db.session.query(Order).count() == 2
    api = manager.api("post", "/api/v1/order/", json={
        "company": comp.id, "contract": "№ 2", "ship_date": "2026-12-01",
        "responsible": user("manager").id})
    assert api.status_code == 201, api.json
    assert db.session.get(Order, api.json["id"]).source_id is None


def test_editing_the_first_order_still_needs_its_source(client):
    comp = company()
    first = order(comp)
    resp = client.post(f"/orderview/edit/{first.id}",
                       data=_form(comp, source="__None", version="1"))
    assert "Для нового клиента укажите источник" in _text(resp)
    db.session.expire_all()
    assert db.session.get(Order, first.id).source is not None


# --- optimistic locking ----------------------------------------------------------------------

def test_second_save_of_the_same_version_is_refused_on_the_form(login):
    comp = company()
    ordr = order(comp)
    first, second = login("manager"), login("sales_head")
    ok = first.post(f"/orderview/edit/{ordr.id}",
                    data=_form(comp, contract="Первый", version="1"), follow_redirects=True)
    assert ok.status_code == 200
    stale = second.post(f"/orderview/edit/{ordr.id}",
                        data=_form(comp, contract="Второй", version="1"),
                        follow_redirects=True)
    assert stale.status_code == 200
    assert any("Запись изменена другим пользователем" in f for f in flashes(_text(stale)))
    db.session.expire_all()
    saved = db.session.get(Order, ordr.id)
    assert saved.contract == "Первый" and saved.version == 2


def test_second_save_of_the_same_version_is_refused_by_api(login):
    comp = company()
    ordr = order(comp)
    manager = login("manager")
    assert manager.api("put", f"/api/v1/order/{ordr.id}",
                       json={"contract": "А", "version": 1}).status_code == 200
    stale = manager.api("put", f"/api/v1/order/{ordr.id}", json={"contract": "Б", "version": 1})
    assert stale.status_code == 409
    assert "Запись изменена другим пользователем" in stale.json["message"]
    no_version = manager.api("put", f"/api/v1/order/{ordr.id}", json={"contract": "В"})
    assert no_version.status_code == 422
    db.session.expire_all()
    assert db.session.get(Order, ordr.id).contract == "А"


# --- row rules -------------------------------------------------------------------------------

def test_manager_sees_only_own_orders(login):
    comp = company("ООО «Чужое»")
    mine = order(comp, responsible="manager")
    theirs = order(comp, responsible="manager2")
    executed = order(comp, responsible="manager2", executor="executor")
    manager = login("manager")
    listing = _text(manager.get("/orderview/list/"))
    assert mine.number in listing and theirs.number not in listing
    assert manager.get(f"/orderview/show/{theirs.id}").status_code in (302, 404)
    resp = manager.post(f"/orderview/edit/{theirs.id}",
                        data=_form(comp, contract="взлом", version="1"))
    assert resp.status_code in (302, 404)
    assert manager.api("get", f"/api/v1/order/{theirs.id}").status_code == 404
    assert manager.api("put", f"/api/v1/order/{theirs.id}",
                       json={"contract": "взлом", "version": 1}).status_code == 404
    api_list = manager.api("get", "/api/v1/order/").json
    assert {r["id"] for r in api_list["result"]} == {mine.id}
    export = manager.get("/orderview/export/").get_data(as_text=True)
    assert mine.number in export and theirs.number not in export
    # A new line is offered only the orders the user may see (its picker searches them).
    retired = product("Снято с производства", active=False)
    offered = manager.get("/orderitemview/form_picker/order?form=add&q=").json["results"]
    assert [o["id"] for o in offered] == [str(mine.id)]
    line_form = _text(manager.get("/orderitemview/add"))
    assert retired.name not in line_form  # and only active products
    # Lines follow their order.
    line = order(comp, responsible="manager2", lines=[(product(), "1")]).items[0]
    assert manager.api("get", f"/api/v1/order_item/{line.id}").status_code == 404
    add = manager.api("post", "/api/v1/order_item/", json={"order": theirs.id,
                                                           "product": product("Б").id})
    assert add.status_code == 422
    # The executor sees the order addressed to them; the head of sales sees the department.
    assert executed.number in _text(login("executor").get("/orderview/list/"))
    head = _text(login("sales_head").get("/orderview/list/"))
    assert mine.number in head and theirs.number in head
    db.session.expire_all()
    assert db.session.get(Order, theirs.id).contract == "№ 1 от 01.11.2026"


def test_creator_sees_the_order_they_created(login):
    comp = company()
    created = order(comp, responsible="manager2", creator="manager")
    assert created.number in _text(login("manager").get("/orderview/list/"))


# --- "Новые заказы" --------------------------------------------------------------------------

@pytest.fixture()
def execution_headed(app):
    """The head of execution heads the execution department: the row rule `department`
    shows only the departments a user heads (the fixtures leave this one without a head)."""
    dep = db.session.get(Department, user("execution_head").department_id)
    dep.head_id = user("execution_head").id
    db.session.commit()
    yield
    dep.head_id = None
    db.session.commit()


@pytest.mark.usefixtures("execution_headed")
def test_new_orders_inbox_of_executor_and_execution_head(login):
    comp = company()
    box = product()
    agreed = order(comp, executor="executor", status="agreed", lines=[(box, "1")],
                   requires_approval=True)
    opened = order(comp, executor="executor", status="open", lines=[(box, "1")])
    waiting = order(comp, executor="executor", status="open", lines=[(box, "1")],
                    requires_approval=True)
    draft = order(comp, executor="executor")
    to_head = order(comp, executor="execution_head", status="agreed", lines=[(box, "1")])
    elsewhere = order(comp, executor="logistician", status="agreed", lines=[(box, "1")])
    other_dep = order(comp, executor="manager2", status="agreed", lines=[(box, "1")])

    mine = _text(login("executor").get("/newordersview/list/"))
    assert agreed.number in mine and opened.number in mine
    for number in (waiting.number, draft.number, to_head.number, elsewhere.number,
                   other_dep.number):
        assert number not in mine
    head = _text(login("execution_head").get("/newordersview/list/"))
    for number in (agreed.number, opened.number, to_head.number, elsewhere.number):
        assert number in head  # logistician and executor are in the execution department
    for number in (waiting.number, draft.number, other_dep.number):
        assert number not in head
    assert login("manager2").get("/newordersview/list/").status_code == 200
    assert "Новые заказы" in _text(login("executor").get("/newordersview/list/"))


# --- reference items on orders ---------------------------------------------------------------

def test_inactive_source_not_offered_on_new_order_but_kept_on_old(client):
    from tests.test_reference_screens import restore_item

    comp = company()
    exhibition = ref_item("lead_source", "exhibition")
    old = order(comp, source="exhibition")
    with restore_item(exhibition):
        resp = client.post(f"/referenceitemview/edit/{exhibition.id}",
                           data={"label": exhibition.label, "sort_order": "80"},
                           follow_redirects=True)  # "active" unchecked: deactivated
        assert resp.status_code == 200
        db.session.expire_all()
        assert ref_item("lead_source", "exhibition").active is False
        option = f'value="{exhibition.id}"'
        assert option not in _text(client.get("/orderview/add"))
        assert option in _text(client.get(f"/orderview/edit/{old.id}"))
        # The old order saves unchanged with its inactive source...
        saved = client.post(f"/orderview/edit/{old.id}",
                            data=_form(comp, source=str(exhibition.id), version="1",
                                       comment="без изменений источника"),
                            follow_redirects=True)
        assert saved.status_code == 200
        db.session.expire_all()
        kept = db.session.get(Order, old.id)
        assert kept.source_id == exhibition.id and kept.comment == "без изменений источника"
        # ...but a new order cannot pick it, on the form or through the API.
        refused = client.post("/orderview/add",
                              data=_form(company("ООО «Выставка»"), source=str(exhibition.id)))
        assert "больше не используется" in _text(refused)
        api = client.api("post", "/api/v1/order/", json={
            "company": comp.id, "contract": "№ 3", "ship_date": "2026-12-01",
            "responsible": user("manager").id, "source": exhibition.id})
        assert api.status_code == 422
        assert "больше не используется" in api.json["message"]["source"][0]
        assert db.session.query(Order).count() == 1
