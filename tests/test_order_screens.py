"""Every screen of orders, products and reference lists renders, in Russian, for the roles
that may open it."""
from __future__ import annotations

import html as htmllib
import re

import pytest

from models.reference import ReferenceList
from tests.test_order_support import company, order, product, ref_item

ENGLISH = ["Add", "Edit", "Show", "Delete", "Search", "Record Count", "List ", "Actions",
           "Back", "Save", "No records", "Created At", "Updated At", "Not a valid choice",
           "This field is required"]


def _visible(html: str) -> str:
    html = re.sub(r"(?s)<(script|style)\b.*?</\1>", " ", html)
    return htmllib.unescape(re.sub(r"<[^>]+>", " ", html))


def _english(text: str) -> list[str]:
    return [w for w in ENGLISH
            if re.search(re.escape(w) if w.endswith(" ") else rf"\b{re.escape(w)}\b", text)]


@pytest.fixture()
def records(app):
    from app.extensions import db

    comp = company()
    prod = product("Коробка", sku="BOX-1")
    ordr = order(comp, executor="executor", status="agreed", lines=[(prod, "2")])
    ref = db.session.query(ReferenceList).filter_by(code="lead_source").one()
    return {"order": ordr.id, "item": ordr.items[0].id, "product": prod.id, "list": ref.id,
            "ref_item": ref_item("lead_source", "call").id}


def _pages(ids):
    return [
        "/orderview/list/", f"/orderview/show/{ids['order']}", "/orderview/add",
        f"/orderview/edit/{ids['order']}", "/newordersview/list/",
        f"/orderitemview/show/{ids['item']}", f"/orderitemview/add?_flt_0_order={ids['order']}",
        f"/orderitemview/edit/{ids['item']}",
        "/productview/list/", f"/productview/show/{ids['product']}", "/productview/add",
        f"/productview/edit/{ids['product']}",
        "/referencelistview/list/", f"/referencelistview/show/{ids['list']}",
        f"/referencelistview/edit/{ids['list']}", "/referenceitemview/list/",
        f"/referenceitemview/show/{ids['ref_item']}", f"/referenceitemview/edit/{ids['ref_item']}",
        f"/referenceitemview/add?_flt_0_list={ids['list']}",
    ]


def test_every_screen_renders_in_russian_for_admin(client, records):
    for url in _pages(records):
        resp = client.get(url)
        assert resp.status_code == 200, url
        text = _visible(resp.get_data(as_text=True))
        assert _english(text) == [], (url, _english(text))


def test_order_page_shows_lines_and_total_in_roubles(client, records):
    page = _visible(client.get(f"/orderview/show/{records['order']}").get_data(as_text=True))
    assert "Позиции заказов" in page and "Коробка" in page
    assert "200,00\xa0₽" in page and "Согласовано" in page


def test_menus_of_roles(login, records):
    executor = _visible(login("executor").get("/orderview/list/").get_data(as_text=True))
    assert "Новые заказы" in executor and "Номенклатура" in executor
    assert "Списки значений" in executor  # reference lists are readable by every role
    lawyer = login("lawyer")
    assert lawyer.get("/orderview/list/").status_code in (302, 403)
    assert lawyer.api("get", "/api/v1/order/").status_code == 403
    assert lawyer.api("get", "/api/v1/product/").status_code == 403
