"""Reference lists: the admin edits them on screens and through the API; re-seeding keeps
the admin's version; other roles only read."""
from __future__ import annotations

import contextlib
import html as htmllib

from sqlalchemy import select

from app.extensions import db
from models.reference import ReferenceItem, ReferenceList
from models.seed import SeedRecord
from tests.test_order_support import ref_item

# Reference rows are kept between tests (conftest): every test puts back what it changed.


@contextlib.contextmanager
def restore_item(item: ReferenceItem):
    saved = {"label": item.label, "sort_order": item.sort_order, "active": item.active,
             "is_other": item.is_other}
    item_id = item.id
    try:
        yield item
    finally:
        db.session.rollback()
        fresh = db.session.get(ReferenceItem, item_id)
        for key, value in saved.items():
            setattr(fresh, key, value)
        db.session.commit()


@contextlib.contextmanager
def removed_afterwards(list_code: str):
    before = set(db.session.scalars(select(ReferenceItem.id)))
    try:
        yield
    finally:
        db.session.rollback()
        for item in db.session.scalars(select(ReferenceItem)).all():
            if item.id not in before:
                db.session.delete(item)
        db.session.commit()


def _text(resp) -> str:
    return htmllib.unescape(resp.get_data(as_text=True))


def _list(code: str) -> ReferenceList:
    return db.session.scalar(select(ReferenceList).where(ReferenceList.code == code))


def test_admin_sees_lists_and_their_items(client):
    listing = _text(client.get("/referencelistview/list/"))
    assert "Источники и каналы" in listing and "Причины отказа" in listing
    page = _text(client.get(f"/referencelistview/show/{_list('lead_source').id}"))
    assert "Входящий звонок" in page and "Выставка" in page  # items as a related view
    items = _text(client.get("/referenceitemview/list/"))
    assert "«Другое» (с пояснением)" in items


def test_admin_edits_label_order_and_active_flag(client):
    item = ref_item("priority", "C")
    with restore_item(item):
        resp = client.post(f"/referenceitemview/edit/{item.id}",
                           data={"label": "C — когда будет время", "sort_order": "5",
                                 "is_other": "y", "code": "hacked"}, follow_redirects=True)
        assert resp.status_code == 200
        db.session.expire_all()
        fresh = db.session.get(ReferenceItem, item.id)
        assert fresh.label == "C — когда будет время" and fresh.sort_order == 5
        assert fresh.active is False and fresh.is_other is True
        assert fresh.code == "C"  # the stable key is not editable


def test_admin_adds_an_item_and_duplicate_code_is_refused(client):
    ref = _list("delivery_type")
    with removed_afterwards("delivery_type"):
        resp = client.post(f"/referenceitemview/add?_flt_0_list={ref.id}",
                           data={"list": str(ref.id), "code": "drone", "label": "Дрон",
                                 "sort_order": "50", "active": "y"}, follow_redirects=True)
        assert resp.status_code == 200
        added = db.session.scalar(select(ReferenceItem).where(ReferenceItem.code == "drone"))
        assert added is not None and added.list_id == ref.id and added.active
        dup = client.post("/referenceitemview/add",
                          data={"list": str(ref.id), "code": "drone", "label": "Ещё дрон",
                                "sort_order": "60", "active": "y"})
        assert "Код «drone» уже есть в этом справочнике" in _text(dup)
        bad = client.post("/referenceitemview/add",
                          data={"list": str(ref.id), "code": "дрон", "label": "Дрон",
                                "sort_order": "60"})
        assert "Код: латинские буквы, цифры, _ и -" in _text(bad)
        assert db.session.query(ReferenceItem).filter_by(list_id=ref.id, label="Ещё дрон")\
            .count() == 0


def test_item_in_use_cannot_be_deleted(client):
    from models.order import Order
    from tests.test_order_support import company, order

    item = ref_item("lead_source", "social")
    order(company(), source="social")
    resp = client.post(f"/referenceitemview/delete/{item.id}", follow_redirects=True)
    assert "используется в записях" in _text(resp)
    assert client.api("delete", f"/api/v1/reference_item/{item.id}").status_code == 400
    db.session.expire_all()
    assert db.session.get(ReferenceItem, item.id) is not None
    assert db.session.query(Order).one().source_id == item.id


def test_admin_edit_survives_seed_again(client, runner):
    item = ref_item("payment_kind", "cash")
    with restore_item(item):
        client.post(f"/referenceitemview/edit/{item.id}",
                    data={"label": "Наличными в кассу", "sort_order": "1", "active": "y"},
                    follow_redirects=True)
        result = runner.invoke(args=["crm", "seed"])
        assert result.exit_code == 0, result.output
        assert "Справочники" in result.output
        db.session.expire_all()
        fresh = db.session.get(ReferenceItem, item.id)
        assert fresh.label == "Наличными в кассу" and fresh.sort_order == 1
    # Put back, the seed owns the item again (its record still matches the shipped value).
    rec = db.session.scalar(select(SeedRecord).where(SeedRecord.kind == "reference_item",
                                                     SeedRecord.key == "payment_kind.cash"))
    assert rec.value["label"] == "Наличные"


def test_non_admin_cannot_edit_reference_lists(login):
    item = ref_item("priority", "A")
    manager = login("manager")
    assert manager.get("/referenceitemview/list/").status_code == 200  # read is allowed
    resp = manager.post(f"/referenceitemview/edit/{item.id}",
                        data={"label": "Взлом", "sort_order": "1", "active": "y"})
    assert resp.status_code in (302, 403)
    assert manager.post("/referenceitemview/add",
                        data={"list": str(item.list_id), "code": "x", "label": "x"}
                        ).status_code in (302, 403)
    assert manager.post(f"/referencelistview/edit/{item.list_id}",
                        data={"name": "Взлом"}).status_code in (302, 403)
    assert manager.api("put", f"/api/v1/reference_item/{item.id}",
                       json={"label": "Взлом"}).status_code == 403
    assert manager.api("post", "/api/v1/reference_item/", json={
        "list": item.list_id, "code": "x", "label": "x"}).status_code == 403
    db.session.expire_all()
    assert db.session.get(ReferenceItem, item.id).label == "A — высокий"
    assert db.session.get(ReferenceList, item.list_id).name == "Приоритеты"


def test_reference_item_api_reads_for_every_role_and_writes_for_admin(login, client):
    for username in ("employee", "executor", "lawyer"):
        resp = login(username).api("get", "/api/v1/reference_item/?q=(page_size:100)")
        assert resp.status_code == 200, username
        assert any(r["list"]["code"] == "lead_source" for r in resp.json["result"])
    ref = _list("event_topic")
    with removed_afterwards("event_topic"):
        created = client.api("post", "/api/v1/reference_item/", json={
            "list": ref.id, "code": "claim", "label": "Претензия", "sort_order": 90})
        assert created.status_code == 201, created.json
        dup = client.api("post", "/api/v1/reference_item/", json={
            "list": ref.id, "code": "claim", "label": "Претензия 2"})
        assert dup.status_code == 422 and "уже есть" in dup.json["message"]["code"][0]
        put = client.api("put", f"/api/v1/reference_item/{created.json['id']}",
                         json={"label": "Претензия клиента", "active": False})
        assert put.status_code == 200, put.json
        got = client.api("get", f"/api/v1/reference_item/{created.json['id']}").json["result"]
        assert got["label"] == "Претензия клиента" and got["active"] is False
        assert got["code"] == "claim"
        deleted = client.api("delete", f"/api/v1/reference_item/{created.json['id']}")
        assert deleted.status_code == 200
