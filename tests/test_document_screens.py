"""The record page's «Документы» tab, generating and regenerating through the form, the
status the page polls, the file download as the record's file, the batch over selected deals
and its progress page, and «Документы», the list: each refused to an outsider and to another
manager."""
from __future__ import annotations

import hashlib

from sqlalchemy import func, select

from app.attachments import path_of
from app.extensions import db
from models.attachment import Attachment
from models.document import Document, DocumentBatch, DocumentTemplate, DocumentVersion
from process import documents
from tests.conftest import flashes
from tests.document_helpers import deal_with_items as _deal_with_items
from tests.document_helpers import fill_company_profile, run_documents
from tests.test_pipeline_fixtures import make_pipeline


def deal_with_items(title: str = "Поставка эко-пакетов", responsible: str = "manager"):
    """A deal with items in the one sales pipeline of the test."""
    from models.pipeline import Pipeline

    pipeline = db.session.scalars(select(Pipeline).where(Pipeline.code == "sales")).first()
    return _deal_with_items(title, responsible, pipeline or make_pipeline())


def _deal_page(client, deal):
    return client.get(f"/dealview/show/{deal.id}")


def _ready_version(document_id) -> DocumentVersion:
    db.session.expire_all()
    return db.session.get(Document, document_id).latest


def test_the_record_page_generates_a_document_rendered_by_the_worker(
        login, document_templates):
    fill_company_profile()
    deal = deal_with_items()
    manager = login("manager")
    page = _deal_page(manager, deal).get_data(as_text=True)
    assert 'id="crm-documents"' in page and "Сформировать документ" in page
    assert "Счёт на оплату" in page and "Документов пока нет." in page

    resp = manager.post(f"/documents/generate/deal/{deal.id}", data={"kind": "invoice"})
    assert resp.status_code == 302 and resp.headers["Location"].endswith(
        f"/dealview/show/{deal.id}#crm-documents")
    [document] = db.session.scalars(select(Document)).all()
    assert document.latest.status == "pending"  # nothing rendered in the request
    page = _deal_page(manager, deal).get_data(as_text=True)
    assert "Формируется…" in page and "/documents/status/deal/" in page
    status = manager.get(f"/documents/status/deal/{deal.id}").json
    assert status["pending"] == 1 and status["documents"][0]["number"] == "1"

    run_documents()
    version = _ready_version(document.id)
    assert version.status == "ready", version.error
    assert manager.get(f"/documents/status/deal/{deal.id}").json["pending"] == 0
    page = _deal_page(manager, deal).get_data(as_text=True)
    assert f"/crm/attachment/download/{version.attachment_id}" in page
    assert "Счёт на оплату № 1 от" in page and "Новая версия" in page
    data = manager.get(f"/crm/attachment/download/{version.attachment_id}").data
    assert data.startswith(b"%PDF") and hashlib.sha256(data).hexdigest() == version.sha256

    resp = manager.post(f"/documents/{document.id}/regenerate")
    assert resp.status_code == 302
    run_documents()
    db.session.expire_all()
    document = db.session.get(Document, document.id)
    assert [(v.version, v.status) for v in document.versions] == [(1, "ready"), (2, "ready")]
    assert document.number == "1"


def test_a_template_of_the_kind_is_chosen_when_there_are_several(login, document_templates):
    deal = deal_with_items()
    shipped = db.session.scalars(select(DocumentTemplate).where(
        DocumentTemplate.key == "invoice")).one()
    db.session.add(DocumentTemplate(key="invoice_opt", kind="invoice", name="Счёт оптовый",
                                    source=shipped.source, version=1, active=True))
    db.session.commit()
    manager = login("manager")
    page = _deal_page(manager, deal).get_data(as_text=True)
    assert 'name="template_invoice"' in page and "Счёт оптовый" in page
    manager.post(f"/documents/generate/deal/{deal.id}",
                 data={"kind": "invoice", "template_invoice": "invoice_opt"})
    assert db.session.scalars(select(Document.template_key)).one() == "invoice_opt"


def test_refusals_are_flashed_in_russian_not_a_500(login, document_templates):
    deal = deal_with_items()
    manager = login("manager")
    resp = manager.post(f"/documents/generate/deal/{deal.id}", data={"kind": "nonsense"},
                        follow_redirects=True)
    assert resp.status_code == 200
    assert "Неизвестный вид документа «nonsense»" in flashes(resp.get_data(as_text=True))
    resp = manager.post(f"/documents/generate/deal/{deal.id}", data={"kind": "invoice"})
    document = db.session.scalars(select(Document)).one()
    resp = manager.post(f"/documents/{document.id}/regenerate", follow_redirects=True)
    assert resp.status_code == 200
    assert "Документ № 1 ещё формируется" in flashes(resp.get_data(as_text=True))
    assert db.session.scalar(select(func.count(DocumentVersion.id))) == 1


def test_a_failed_version_offers_to_retry(login, document_templates):
    deal = deal_with_items()
    document = documents.request(deal, "deal", "invoice")
    db.session.commit()
    documents.failed(document.latest.id, "Шаблон сломан")
    db.session.commit()
    page = _deal_page(login("manager"), deal).get_data(as_text=True)
    assert "Ошибка формирования: Шаблон сломан" in page and "Повторить" in page


def test_others_are_refused_everywhere(login, document_templates):
    deal = deal_with_items()  # the manager's
    document = documents.request(deal, "deal", "invoice")
    db.session.commit()
    run_documents()
    version = _ready_version(document.id)
    for username in ("outsider", "manager2"):
        other = login(username)
        assert _deal_page(other, deal).status_code in (302, 403, 404)
        assert other.post(f"/documents/generate/deal/{deal.id}",
                          data={"kind": "invoice"}).status_code == 403
        assert other.post(f"/documents/{document.id}/regenerate").status_code == 404
        assert other.get(f"/documents/status/deal/{deal.id}").status_code == 403
        assert other.get(f"/crm/attachment/download/{version.attachment_id}").status_code \
            == 403
        listing = other.get("/documentlistview/list/").get_data(as_text=True)
        assert "Счёт на оплату" not in listing
        assert other.get(f"/documentlistview/show/{document.id}").status_code in (302, 404)
    assert db.session.scalar(select(func.count(DocumentVersion.id))) == 1
    # A role that only reads deals sees the documents of the deals it reads and makes none.
    director_page = _deal_page(login("director"), deal).get_data(as_text=True)
    assert "Сформировать документ" in director_page
    designer = login("designer")
    assert designer.post(f"/documents/generate/deal/{deal.id}",
                         data={"kind": "invoice"}).status_code in (403, 404)


def test_the_list_shows_documents_of_visible_records_in_fixed_queries(
        app, login, document_templates):
    from sqlalchemy import event

    for i in range(3):
        documents.request(deal_with_items(f"Сделка {i}"), "deal", "invoice")
    theirs = deal_with_items("Чужая", responsible="manager2")
    documents.request(theirs, "deal", "act")
    db.session.commit()
    manager = login("manager")
    counts = []

    def count(*_a, **_k):
        counts[-1] += 1


    manager.get("/documentlistview/list/")  # caches of the first request
    counts.append(0)
    event.listen(db.engine, "before_cursor_execute", count)
    try:
        page = manager.get("/documentlistview/list/").get_data(as_text=True)
    finally:
        event.remove(db.engine, "before_cursor_execute", count)
    for i in range(5):
        documents.request(deal_with_items(f"Ещё {i}"), "deal", "invoice")
    db.session.commit()
    manager.get("/documentlistview/list/")  # the signed-in user, loaded again after commit
    counts.append(0)
    event.listen(db.engine, "before_cursor_execute", count)
    try:
        bigger = manager.get("/documentlistview/list/").get_data(as_text=True)
    finally:
        event.remove(db.engine, "before_cursor_execute", count)
    assert page.count("Счёт на оплату") == 3 and "Акт выполненных работ" not in page
    assert bigger.count("Счёт на оплату") == 8
    assert counts[0] == counts[1], counts
    assert "Вид документа" in page and "Оплачен" in page
    # filter by kind
    filtered = manager.get("/documentlistview/list/?_flt_0_kind=act").get_data(as_text=True)
    assert "Счёт на оплату" not in filtered
    assert "Акт выполненных работ" in login("manager2").get(
        "/documentlistview/list/?_flt_0_kind=act").get_data(as_text=True)


def test_the_list_and_the_page_show_the_amount_as_money(login, document_templates):
    # 1000 × 12,50 + 150 × 900,00: FAB alone would print the bare Decimal 147500.00.
    document = documents.request(deal_with_items(), "deal", "invoice")
    db.session.commit()
    manager = login("manager")
    listing = manager.get("/documentlistview/list/").get_data(as_text=True)
    page = manager.get(f"/documentlistview/show/{document.id}").get_data(as_text=True)
    for html in (listing, page):
        assert "147\xa0500,00\xa0₽" in html and "147500.00" not in html
    # the template by its name, not its key
    assert "Счёт на оплату" in page and ">invoice<" not in page


def test_the_batch_over_selected_deals_skips_what_the_user_may_not_change(
        login, document_templates):
    mine = [deal_with_items(f"Моя {i}") for i in range(3)]
    theirs = deal_with_items("Чужая", responsible="manager2")
    manager = login("manager")
    ids = [d.id for d in mine] + [theirs.id]
    resp = manager.post("/dealview/action_post", data={"action": "make_documents",
                                                       "rowid": [str(i) for i in ids]})
    assert resp.status_code == 302 and "/documents/batch/new" in resp.headers["Location"]
    form = manager.get(resp.headers["Location"]).get_data(as_text=True)
    assert "Сформировать документы" in form and "Выбрано записей" in form
    resp = manager.post("/documents/batch", data={
        "entity": "deal", "ids": ",".join(map(str, ids)), "kind": "invoice"})
    batch = db.session.scalars(select(DocumentBatch)).one()
    assert resp.status_code == 302 and resp.headers["Location"].endswith(
        f"/documents/batch/{batch.id}")
    assert batch.total == 3
    assert set(db.session.scalars(select(Document.record_id))) == {d.id for d in mine}
    page = manager.get(f"/documents/batch/{batch.id}")
    assert "Готово 0 из 3" in page.get_data(as_text=True)
    assert "Пакет готов" not in page.get_data(as_text=True)
    assert "пропущено записей без права на изменение: 1" in " ".join(
        flashes(page.get_data(as_text=True)))
    run_documents()
    status = manager.get(f"/documents/batch/{batch.id}/status").json
    assert (status["ready"], status["total"], status["finished"]) == (3, 3, True)
    assert len(status["documents"]) == 3
    first = manager.get(status["documents"][0]["download_url"])
    assert first.data.startswith(b"%PDF")
    done = manager.get(f"/documents/batch/{batch.id}").get_data(as_text=True)
    assert "Пакет готов" in done and "формируются в фоне" not in done
    # only its requester and the admin see the batch
    assert login("manager2").get(f"/documents/batch/{batch.id}").status_code == 404
    assert login("outsider").get(f"/documents/batch/{batch.id}/status").status_code == 404
    assert login("admin").get(f"/documents/batch/{batch.id}").status_code == 200


def test_the_order_list_offers_the_batch_action(login, document_templates):
    page = login("manager").get("/orderview/list/").get_data(as_text=True)
    assert "Сформировать документы" in page


def test_the_stored_file_is_the_records_attachment(login, document_templates):
    deal = deal_with_items()
    document = documents.request(deal, "deal", "invoice")
    db.session.commit()
    run_documents()
    version = _ready_version(document.id)
    attachment = db.session.get(Attachment, version.attachment_id)
    assert (attachment.entity, attachment.record_id) == ("deal", deal.id)
    assert hashlib.sha256(path_of(attachment).read_bytes()).hexdigest() == version.sha256


def test_every_document_screen_is_russian(client, login, document_templates):
    from tests.test_russian_ui import assert_russian

    deal = deal_with_items()
    document = documents.request(deal, "deal", "invoice")
    db.session.commit()
    manager = login("manager")
    assert_russian(_deal_page(manager, deal), "Документы", "Сформировать документ",
                   "Формируется…")
    run_documents()
    batch = documents.request_batch([deal], "deal", "act")
    batch.requested_by_id = None
    db.session.commit()
    assert_russian(client.get(f"/documents/batch/{batch.id}"), "Пакет документов",
                   "Готово 0 из 1")
    assert_russian(client.get(f"/documents/batch/new?entity=deal&ids={deal.id}"),
                   "Сформировать документы", "Вид документа", "Сформировать")
    listing = assert_russian(manager.get("/documentlistview/list/"), "Документы",
                             "Вид документа", "Номер", "Дата", "Оплачен", "Запись",
                             "Счёт на оплату", "Скачать")
    assert "invoice" not in listing
    assert_russian(manager.get(f"/documentlistview/show/{document.id}"), "Документ",
                   "Счёт на оплату")
    assert_russian(client.get("/settings/company/"), "Реквизиты компании", "ИНН", "БИК",
                   "Ставка НДС по умолчанию", "Логотип", "Печать", "Сохранить")
    assert_russian(client.get("/settings/templates/"), "Шаблоны документов",
                   "Вид документа", "Действующая версия", "Новый шаблон", "Создать шаблон")
    assert_russian(client.get("/settings/templates/invoice"), "Предпросмотр",
                   "Новая версия", "Сохранить новую версию", "Комментарий")


def test_the_list_filters_by_paid(login, document_templates):
    paid = documents.request(deal_with_items("Оплаченная"), "deal", "invoice")
    documents.request(deal_with_items("Неоплаченная"), "deal", "act")
    db.session.flush()
    documents.mark_paid(paid, None)
    db.session.commit()
    manager = login("manager")
    page = manager.get("/documentlistview/list/?_flt_0_paid=").get_data(as_text=True)
    assert "Счёт на оплату" in page and "Акт выполненных работ" not in page
    page = manager.get("/documentlistview/list/?_flt_1_paid=").get_data(as_text=True)
    assert "Счёт на оплату" not in page and "Акт выполненных работ" in page
