"""Files on any record: upload, download, limits, names, access, delete, REST."""
from __future__ import annotations

import io
from pathlib import Path
from urllib.parse import quote

import pytest
from sqlalchemy import select

from app.attachments import sanitize_filename
from app.extensions import db
from models.attachment import Attachment
from models.task import Task
from models.timeline import TimelineEntry
from tests.helpers import legal_company, user

PDF = b"%PDF-1.4\n" + bytes(range(256)) * 40 + b"\n%%EOF\n"


@pytest.fixture(autouse=True)
def _empty_upload_dir(app):
    """The upload folder lives for the whole run while the tables are emptied after each
    test: start each test with no files, so "nothing on disk" means this test's upload."""
    import shutil

    root = Path(app.config["UPLOAD_DIR"])
    if root.exists():
        shutil.rmtree(root)
    root.mkdir(parents=True)
    yield


def _task(assignee: str) -> Task:
    task = Task(title="Подготовить КП", assignee_id=user(assignee).id,
                creator_id=user(assignee).id)
    db.session.add(task)
    db.session.commit()
    return task


def _files_on_disk(app) -> list[Path]:
    root = Path(app.config["UPLOAD_DIR"])
    return [p for p in root.rglob("*") if p.is_file()]


def _upload(client, entity, record_id, data: bytes, name: str):
    return client.post(f"/crm/attachment/upload/{entity}/{record_id}",
                       data={"file": (io.BytesIO(data), name)},
                       content_type="multipart/form-data")


def test_upload_and_download_round_trip_keeps_bytes_and_cyrillic_name(client, app):
    company = legal_company()
    resp = _upload(client, "company", company.id, PDF, "Договор поставки №5.pdf")
    assert resp.status_code == 302
    assert resp.headers["Location"].endswith(f"/companyview/show/{company.id}#crm-files")
    att = db.session.scalar(select(Attachment))
    assert att.filename == "Договор поставки №5.pdf"
    assert att.size == len(PDF) and att.content_type == "application/pdf"
    assert att.entity == "company" and att.record_id == company.id
    assert att.uploaded_by_id == user("admin").id
    import hashlib

    assert att.sha256 == hashlib.sha256(PDF).hexdigest()
    # stored under UPLOAD_DIR by a random name, not the user's
    on_disk = _files_on_disk(app)
    assert len(on_disk) == 1 and "Договор" not in str(on_disk[0])
    assert on_disk[0].read_bytes() == PDF

    page = client.get(f"/companyview/show/{company.id}").get_data(as_text=True)
    assert "Договор поставки №5.pdf" in page
    assert "Прикреплён файл «Договор поставки №5.pdf»" in page
    assert f"/crm/attachment/download/{att.id}" in page

    resp = client.get(f"/crm/attachment/download/{att.id}")
    assert resp.status_code == 200
    assert resp.data == PDF
    disposition = resp.headers["Content-Disposition"]
    assert disposition.startswith("attachment;")
    assert f"filename*=UTF-8''{quote('Договор поставки №5.pdf')}" in disposition
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
    entry = db.session.scalar(select(TimelineEntry).where(TimelineEntry.kind == "file"))
    assert entry.text == "Прикреплён файл «Договор поставки №5.pdf»"
    assert entry.payload["attachment_id"] == att.id


def test_too_large_file_refused_and_nothing_stored(client, app):
    company = legal_company()
    big = b"x" * (app.config["UPLOAD_MAX_BYTES"] + 1)
    resp = _upload(client, "company", company.id, big, "отчёт.txt")
    assert resp.status_code == 422
    html = resp.get_data(as_text=True)
    assert "Файл слишком большой" in html
    assert db.session.query(Attachment).count() == 0
    assert db.session.query(TimelineEntry).count() == 0
    assert _files_on_disk(app) == []
    # exactly at the limit is fine
    ok = _upload(client, "company", company.id, b"x" * app.config["UPLOAD_MAX_BYTES"], "a.txt")
    assert ok.status_code == 302
    assert db.session.query(Attachment).count() == 1


def test_forbidden_type_refused_and_nothing_stored(client, app):
    company = legal_company()
    for name in ("вирус.exe", "скрипт.pdf.sh", "без_расширения", "page.html"):
        resp = _upload(client, "company", company.id, b"MZ\x90\x00", name)
        assert resp.status_code == 422, name
        assert "Файлы такого типа загружать нельзя" in resp.get_data(as_text=True)
    assert db.session.query(Attachment).count() == 0
    assert _files_on_disk(app) == []


def test_empty_upload_refused(client):
    company = legal_company()
    resp = client.post(f"/crm/attachment/upload/company/{company.id}", data={},
                       content_type="multipart/form-data")
    assert resp.status_code == 422
    assert "Выберите файл" in resp.get_data(as_text=True)


def test_body_over_max_content_length_is_413_with_russian_page(client, app):
    company = legal_company()
    old = app.config["MAX_CONTENT_LENGTH"]
    app.config["MAX_CONTENT_LENGTH"] = 1000
    try:
        resp = _upload(client, "company", company.id, b"y" * 5000, "скан.pdf")
    finally:
        app.config["MAX_CONTENT_LENGTH"] = old
    assert resp.status_code == 413
    html = resp.get_data(as_text=True)
    assert "Traceback" not in html
    assert "превышает" in html or "слишком" in html.lower()
    assert db.session.query(Attachment).count() == 0
    assert _files_on_disk(app) == []


def test_path_traversal_names_are_neutralised(client, app):
    company = legal_company()
    for name in ("../../../etc/evil.txt", "..\\..\\win\\evil.txt", "/abs/evil.txt"):
        resp = _upload(client, "company", company.id, b"data", name)
        assert resp.status_code == 302, name
    names = [a.filename for a in db.session.scalars(select(Attachment))]
    assert len(names) == 3
    for name in names:  # the test client's quoting may eat a backslash; no path survives
        assert name.endswith("evil.txt")
        assert "/" not in name and "\\" not in name and ".." not in name
    assert names[0] == names[2] == "evil.txt"
    root = Path(app.config["UPLOAD_DIR"]).resolve()
    for path in _files_on_disk(app):
        assert root in path.resolve().parents
    assert not (root.parent / "etc").exists() and not (root.parent / "evil.txt").exists()


def test_sanitize_filename_keeps_cyrillic_and_drops_danger():
    assert sanitize_filename("Счёт-фактура №12 от 01.02.pdf") == "Счёт-фактура №12 от 01.02.pdf"
    assert sanitize_filename("../..//Акт.pdf") == "Акт.pdf"
    assert sanitize_filename('a<b>:"c|d?*.txt') == "a_b___c_d__.txt"
    assert sanitize_filename("bad\x00name\r\n.txt") == "bad_name__.txt"
    assert sanitize_filename("....") == ""
    long = sanitize_filename("я" * 300 + ".docx")
    assert long.endswith(".docx") and len(long) <= 200


def test_user_who_cannot_see_the_record_gets_403_on_download(login, app):
    task = _task("manager")
    owner = login("manager")
    assert _upload(owner, "task", task.id, PDF, "ТЗ.pdf").status_code in (302, 303)
    att = db.session.scalar(select(Attachment))
    assert owner.get(f"/crm/attachment/download/{att.id}").data == PDF
    other = login("manager2")
    resp = other.get(f"/crm/attachment/download/{att.id}")
    assert resp.status_code == 403
    assert PDF not in resp.data
    assert other.api("get", f"/api/v1/attachment/{att.id}/content").status_code == 403
    assert other.api("get", f"/api/v1/attachment/record/task/{task.id}").status_code == 403
    # nor may they attach to it
    assert _upload(other, "task", task.id, PDF, "чужое.pdf").status_code == 403
    assert db.session.query(Attachment).count() == 1
    # the head of sales sees the department's tasks
    head = login("sales_head")
    assert head.get(f"/crm/attachment/download/{att.id}").status_code == 200


def test_download_needs_the_attachment_read_right(login):
    company = legal_company()
    admin = login("admin")
    _upload(admin, "company", company.id, PDF, "a.pdf")
    att = db.session.scalar(select(Attachment))
    from tests.factories import make_user

    make_user("norights", ["public"])
    assert login("norights").get(f"/crm/attachment/download/{att.id}").status_code == 403
    assert login("manager").get(f"/crm/attachment/download/{att.id}").status_code == 200
    assert login("admin").get("/crm/attachment/download/999").status_code == 404


def test_delete_needs_the_delete_right(login, app):
    company = legal_company()
    admin = login("admin")
    _upload(admin, "company", company.id, PDF, "Удалить меня.pdf")
    att = db.session.scalar(select(Attachment))
    att_id = att.id
    manager = login("manager")  # attachment: rw, no d
    assert manager.post(f"/crm/attachment/delete/{att_id}").status_code == 403
    assert db.session.query(Attachment).count() == 1
    page = manager.get(f"/companyview/show/{company.id}").get_data(as_text=True)
    assert f"/crm/attachment/delete/{att_id}" not in page
    head = login("sales_head")  # attachment: rwd
    resp = head.post(f"/crm/attachment/delete/{att_id}")
    assert resp.status_code == 302
    db.session.expire_all()
    assert db.session.query(Attachment).count() == 0
    assert _files_on_disk(app) == []
    texts = [e.text for e in db.session.scalars(select(TimelineEntry))]
    assert "Удалён файл «Удалить меня.pdf»" in texts


def test_rest_lists_uploads_downloads_and_deletes(client, app):
    company = legal_company()
    resp = client.http.post(
        f"/api/v1/attachment/record/company/{company.id}",
        data={"file": (io.BytesIO(PDF), "Спецификация.pdf")},
        content_type="multipart/form-data",
        headers={"Authorization": f"Bearer {_token(client)}"})
    assert resp.status_code == 201, resp.get_data(as_text=True)
    att_id = resp.json["result"]["id"]
    assert resp.json["result"]["filename"] == "Спецификация.pdf"
    listed = client.api("get", f"/api/v1/attachment/record/company/{company.id}")
    assert listed.status_code == 200 and listed.json["count"] == 1
    assert "password" not in listed.get_data(as_text=True)
    content = client.api("get", f"/api/v1/attachment/{att_id}/content")
    assert content.status_code == 200 and content.data == PDF
    bad = client.http.post(
        f"/api/v1/attachment/record/company/{company.id}",
        data={"file": (io.BytesIO(b"MZ"), "x.exe")}, content_type="multipart/form-data",
        headers={"Authorization": f"Bearer {_token(client)}"})
    assert bad.status_code == 422
    assert "Файлы такого типа" in bad.json["message"]["file"][0]
    assert client.api("delete", f"/api/v1/attachment/{att_id}").status_code == 200
    assert db.session.query(Attachment).count() == 0
    assert _files_on_disk(app) == []
    assert client.api("get", "/api/v1/attachment/record/company/999").status_code == 404


def _token(client) -> str:
    client.api("get", "/api/v1/attachment/record/company/0")  # logs the client in
    return client._token


def test_files_themselves_are_not_records_to_comment_or_attach_to(client):
    company = legal_company()
    _upload(client, "company", company.id, PDF, "a.pdf")
    att = db.session.scalar(select(Attachment))
    assert client.api("get", f"/api/v1/timeline/attachment/{att.id}").status_code == 404
    assert client.post(f"/crm/comment/add/attachment/{att.id}",
                       data={"text": "x"}).status_code == 404
    assert _upload(client, "attachment", att.id, PDF, "b.pdf").status_code == 404
