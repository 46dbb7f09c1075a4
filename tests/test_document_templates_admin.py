"""«Настройки → Шаблоны документов»: the list of keys, a key's versions, the preview on a
sample, a new version checked before it is stored (a broken one keeps the text on the form,
says the line, and leaves the previous version active), rollback, a second template of a
kind; nobody but the admin opens them."""
from __future__ import annotations

import io

from pypdf import PdfReader
from sqlalchemy import select

from app.extensions import db
from models.document import Document, DocumentTemplate
from process import documents
from tests.document_helpers import deal_with_items, run_documents

GOOD = "<html><body><h1>{{ doc.title }} № {{ doc.number }}</h1><p>Version two</p></body></html>"
BROKEN = "<html><body>\n<p>ok</p>\n{% if doc.title %}\n<p>не закрыт</p>\n</body></html>"


def _active(key: str) -> DocumentTemplate:
    db.session.expire_all()
    return db.session.scalars(select(DocumentTemplate).where(
        DocumentTemplate.key == key, DocumentTemplate.active.is_(True))).one()


def test_the_list_and_a_templates_page(client, document_templates):
    page = client.get("/settings/templates/").get_data(as_text=True)
    assert "Шаблоны документов" in page and "Счёт на оплату" in page
    assert "Из поставки программы" in page
    page = client.get("/settings/templates/invoice").get_data(as_text=True)
    assert "Действует версия" in page and "Предпросмотр" in page and "Новая версия" in page


def test_the_preview_is_a_pdf_shown_inline(client, document_templates):
    resp = client.get("/settings/templates/invoice/preview")
    assert resp.status_code == 200 and resp.data.startswith(b"%PDF")
    assert resp.headers["Content-Type"] == "application/pdf"
    assert resp.headers["Content-Disposition"].startswith("inline")
    assert client.get("/settings/templates/invoice/preview?version=9").status_code == 404


def test_a_new_version_becomes_active_and_renders_new_documents(client, document_templates):
    resp = client.post("/settings/templates/invoice/version",
                       data={"source": GOOD, "comment": "Проще"})
    assert resp.status_code == 302
    active = _active("invoice")
    assert (active.version, active.comment, active.source) == (2, "Проще", GOOD)
    text = PdfReader(io.BytesIO(client.get(
        "/settings/templates/invoice/preview").data)).pages[0].extract_text()
    assert "Version two" in text  # Latin: the provisional renderer lacks Cyrillic
    deal = deal_with_items()
    document = documents.request(deal, "deal", "invoice")
    db.session.commit()
    run_documents()
    db.session.expire_all()
    assert db.session.get(Document, document.id).latest.template_version == 2


def test_an_uploaded_html_file_is_a_new_version(client, document_templates):
    resp = client.post("/settings/templates/act/version", data={
        "source": "", "comment": "", "file": (io.BytesIO(GOOD.encode()), "act.html")},
        content_type="multipart/form-data")
    assert resp.status_code == 302 and _active("act").source == GOOD
    resp = client.post("/settings/templates/act/version", data={
        "source": "", "file": (io.BytesIO(b"\x89PNG...."), "act.png")},
        content_type="multipart/form-data")
    assert resp.status_code == 422
    assert "Загрузите файл шаблона с расширением .html" in resp.get_data(as_text=True)


def test_a_broken_template_keeps_the_text_and_the_previous_version(client,
                                                                    document_templates):
    before = _active("invoice")
    resp = client.post("/settings/templates/invoice/version",
                       data={"source": BROKEN, "comment": "Сломанный"})
    assert resp.status_code == 422
    html = resp.get_data(as_text=True)
    assert "Строка " in html and "Шаблон не сохранён." in html
    assert "{% if doc.title %}" in html  # the text stays on the form (escaped in HTML)
    assert 'value="Сломанный"' in html
    after = _active("invoice")
    assert (after.id, after.version) == (before.id, before.version)
    assert db.session.scalar(select(DocumentTemplate.id).where(
        DocumentTemplate.comment == "Сломанный")) is None


def test_an_older_version_is_made_active_again(client, document_templates):
    client.post("/settings/templates/invoice/version", data={"source": GOOD})
    assert _active("invoice").version == 2
    page = client.get("/settings/templates/invoice").get_data(as_text=True)
    assert "Сделать активной" in page
    assert client.post("/settings/templates/invoice/activate/1").status_code == 302
    assert _active("invoice").version == 1
    assert client.post("/settings/templates/invoice/activate/7").status_code == 404


def test_a_second_template_of_a_kind_gets_a_key_from_its_name(client, document_templates):
    resp = client.post("/settings/templates/new", data={
        "kind": "commercial_offer", "name": "КП — оптовый", "origin": ""})
    assert resp.status_code == 302 and resp.headers["Location"].endswith(
        "/settings/templates/kp_optovyy")
    row = _active("kp_optovyy")
    assert (row.kind, row.name, row.version) == ("commercial_offer", "КП — оптовый", 1)
    assert row.source == _active("commercial_offer").source
    client.post("/settings/templates/new", data={"kind": "commercial_offer",
                                                 "name": "КП — оптовый"})
    assert _active("kp_optovyy_2").name == "КП — оптовый"
    # the kind's own first, then by name (the shipped seed-002 offer among them)
    assert [t.key for t in documents.templates_for("commercial_offer")] == [
        "commercial_offer", "eco_commercial_offer", "kp_optovyy", "kp_optovyy_2"]
    resp = client.post("/settings/templates/new", data={"kind": "nope", "name": "x"},
                       follow_redirects=True)
    assert "Выберите вид документа" in resp.get_data(as_text=True)


def test_only_the_admin_opens_the_templates(login, document_templates):
    for username in ("manager", "director"):
        user = login(username)
        assert user.get("/settings/templates/").status_code in (302, 403)
        assert user.get("/settings/templates/invoice/preview").status_code in (302, 403)
        assert user.post("/settings/templates/invoice/version",
                         data={"source": GOOD}).status_code in (302, 403)
        assert user.post("/settings/templates/invoice/activate/1").status_code in (302, 403)
    assert _active("invoice").version == 1
