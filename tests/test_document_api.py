"""/api/v1/document/: list and show row-filtered through the record, generate (202, rendered
by the worker), regenerate, the file (409 while pending), batches and their progress; a
bearer token acts as the same user as the cookie; others get 403/404; bad input a Russian
422."""
from __future__ import annotations

import hashlib

import pytest
from sqlalchemy import func, select

from app.extensions import db
from models.document import Document, DocumentBatch, DocumentVersion
from process import documents
from tests.document_helpers import deal_with_items as _deal_with_items
from tests.document_helpers import run_documents
from tests.helpers import user
from tests.test_actor_token import token_only
from tests.test_pipeline_fixtures import make_pipeline


def deal_with_items(title="Поставка", responsible="manager"):
    from models.pipeline import Pipeline

    pipeline = db.session.scalars(select(Pipeline).where(Pipeline.code == "sales")).first()
    return _deal_with_items(title, responsible, pipeline or make_pipeline())


@pytest.fixture(params=["token", "cookie"])
def as_manager(request, login):
    """The manager through a bearer token only, or through the session cookie only."""
    if request.param == "token":
        return lambda method, url, json=None: token_only(login, "manager").api(
            method, url, json=json)
    client = login("manager")
    return lambda method, url, json=None: client.http.open(url, method=method.upper(),
                                                           json=json)


def test_generate_then_download_by_token_and_by_cookie(as_manager, document_templates):
    deal = deal_with_items()
    resp = as_manager("post", "/api/v1/document/generate",
                      json={"entity": "deal", "record_id": deal.id, "kind": "invoice"})
    assert resp.status_code == 202, resp.json
    pk = resp.json["id"]
    assert (resp.json["status"], resp.json["number"]) == ("pending", "1")
    document = db.session.get(Document, pk)
    assert document.created_by_id == user("manager").id
    assert document.latest.requested_by_id == user("manager").id

    resp = as_manager("get", f"/api/v1/document/{pk}/file")
    assert resp.status_code == 409 and resp.json["message"] == "Документ ещё формируется"
    run_documents()
    resp = as_manager("get", f"/api/v1/document/{pk}/file")
    assert resp.status_code == 200 and resp.data.startswith(b"%PDF")
    db.session.expire_all()
    version = db.session.get(Document, pk).latest
    assert hashlib.sha256(resp.data).hexdigest() == version.sha256

    shown = as_manager("get", f"/api/v1/document/{pk}").json["result"]
    assert (shown["kind"], shown["number"], shown["entity"], shown["record_id"]) == (
        "invoice", "1", "deal", deal.id)
    assert shown["versions"][0]["status"] == "ready"
    assert shown["versions"][0]["sha256"] == version.sha256
    listed = as_manager("get", "/api/v1/document/").json
    assert listed["count"] == 1 and listed["result"][0]["status"] == "ready"

    resp = as_manager("post", f"/api/v1/document/{pk}/regenerate")
    assert resp.status_code == 202 and resp.json["version"] == 2
    resp = as_manager("post", f"/api/v1/document/{pk}/regenerate")
    assert resp.status_code == 422 and "ещё формируется" in resp.json["message"]
    run_documents()
    db.session.expire_all()
    assert [v.status for v in db.session.get(Document, pk).versions] == ["ready", "ready"]


def test_others_are_refused(login, document_templates):
    deal = deal_with_items()
    document = documents.request(deal, "deal", "invoice")
    db.session.commit()
    run_documents()
    batch_resp = login("manager").api("post", "/api/v1/document/batch", json={
        "entity": "deal", "ids": [deal.id], "kind": "act"})
    assert batch_resp.status_code == 202
    batch_id = batch_resp.json["id"]
    for username in ("outsider", "manager2"):
        other = token_only(login, username)
        assert other.api("get", "/api/v1/document/").json["count"] == 0
        assert other.api("get", f"/api/v1/document/{document.id}").status_code == 404
        assert other.api("get", f"/api/v1/document/{document.id}/file").status_code == 404
        assert other.api("post", "/api/v1/document/generate", json={
            "entity": "deal", "record_id": deal.id, "kind": "invoice"}).status_code == 404
        assert other.api("post", f"/api/v1/document/{document.id}/regenerate"
                         ).status_code == 404
        resp = other.api("post", "/api/v1/document/batch", json={
            "entity": "deal", "ids": [deal.id], "kind": "invoice"})
        assert resp.status_code == 403 and "Нет записей" in resp.json["message"]
        assert other.api("get", f"/api/v1/document/batch/{batch_id}").status_code == 404
    # Reading deals is not changing them: the designer sees and cannot generate.
    designer = token_only(login, "designer")
    assert designer.api("post", "/api/v1/document/generate", json={
        "entity": "deal", "record_id": deal.id, "kind": "invoice"}).status_code in (403, 404)
    assert db.session.scalar(select(func.count(Document.id))) == 2
    assert db.session.scalar(select(func.count(DocumentVersion.id))) == 2
    anonymous = login(None).http
    assert anonymous.get("/api/v1/document/").status_code == 401
    assert anonymous.post("/api/v1/document/generate", json={}).status_code == 401


def test_a_batch_skips_records_the_user_may_not_change(login, document_templates):
    mine = [deal_with_items(f"Моя {i}") for i in range(2)]
    theirs = deal_with_items("Чужая", responsible="manager2")
    manager = token_only(login, "manager")
    resp = manager.api("post", "/api/v1/document/batch", json={
        "entity": "deal", "ids": [d.id for d in mine] + [theirs.id], "kind": "invoice"})
    assert resp.status_code == 202, resp.json
    assert (resp.json["total"], resp.json["skipped"]) == (2, 1)
    progress = manager.api("get", f"/api/v1/document/batch/{resp.json['id']}").json["result"]
    assert (progress["ready"], progress["total"], progress["text"]) == (0, 2, "Готово 0 из 2")
    run_documents()
    progress = manager.api("get", f"/api/v1/document/batch/{resp.json['id']}").json["result"]
    assert (progress["ready"], progress["finished"]) == (2, True)
    assert db.session.scalar(select(func.count(DocumentBatch.id))) == 1
    assert login("admin").api("get", f"/api/v1/document/batch/{resp.json['id']}"
                              ).status_code == 200


@pytest.mark.parametrize("body, field", [
    ({"entity": "deal", "record_id": "x", "kind": "invoice"}, "record_id"),
    ({"entity": "planet", "record_id": 1, "kind": "invoice"}, "entity"),
    ({"entity": "deal", "record_id": 1, "kind": "poem"}, "kind"),
    ({"entity": "deal", "record_id": 1, "kind": "invoice", "template": 5}, "template"),
])
def test_bad_input_is_a_russian_422(login, document_templates, body, field):
    resp = login("manager").api("post", "/api/v1/document/generate", json=body)
    assert resp.status_code == 422 and field in resp.json["message"], resp.json
    assert db.session.scalar(select(func.count(Document.id))) == 0


def test_refusals_of_the_service_are_422(login, document_templates):
    deal = deal_with_items()
    manager = login("manager")
    resp = manager.api("post", "/api/v1/document/generate", json={
        "entity": "deal", "record_id": deal.id, "kind": "leave_application"})
    assert resp.status_code == 422 and "не формируется для этой записи" in resp.json["message"]
    resp = manager.api("post", "/api/v1/document/generate", json={
        "entity": "deal", "record_id": deal.id, "kind": "invoice", "template": "nope"})
    assert resp.status_code == 422 and resp.json["message"] == "Шаблон «nope» не найден"
    for ids in ([], ["1"], list(range(1, 600)), "1,2", ["²"]):
        resp = manager.api("post", "/api/v1/document/batch",
                           json={"entity": "deal", "ids": ids, "kind": "invoice"})
        assert resp.status_code == 422 and "ids" in resp.json["message"]
    resp = manager.api("post", "/api/v1/document/", json={"kind": "invoice"})
    assert resp.status_code == 422 and "/generate" in resp.json["message"]
    assert db.session.scalar(select(func.count(Document.id))) == 0


def test_ids_that_are_digits_but_not_numbers_are_refused(login, document_templates):
    """«²» passes str.isdigit() and fails int(): the batch form and the API refuse it."""
    manager = login("manager")
    for ids in ("²", "1,²", "١٢"):
        resp = manager.get(f"/documents/batch/new?entity=deal&ids={ids}")
        assert resp.status_code == 302 and "/documents/batch/new" not in resp.headers[
            "Location"]
        resp = manager.post("/documents/batch", data={"entity": "deal", "ids": ids,
                                                      "kind": "invoice"})
        assert resp.status_code == 302
    assert db.session.scalar(select(func.count(Document.id))) == 0


def test_the_api_speaks_russian_in_its_labels_and_titles(client):
    listing = client.api("get", "/api/v1/document/").json
    assert listing["list_title"] == "Документы"
    assert listing["label_columns"]["amount"] == "Сумма"
    assert listing["label_columns"]["doc_date"] == "Дата"
