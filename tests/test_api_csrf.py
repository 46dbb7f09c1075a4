"""A cookie-authenticated API call that changes data needs the session's CSRF token in the
X-CSRFToken header (a page of another site can make the browser send the cookie, not read
the token); a bearer-token call needs none."""
from __future__ import annotations

import io
import re

import pytest
from sqlalchemy import func, select

from app.extensions import db
from models.attachment import Attachment
from models.party import Company
from tests.conftest import _forget_user

EVIL = {"Origin": "http://evil.example"}
REFUSED = "CSRF-токена нет или он устарел"


@pytest.fixture()
def csrf_on(app):
    """The suite runs with CSRF off (conftest); these tests turn it on as production has it."""
    app.config["WTF_CSRF_ENABLED"] = True
    yield
    app.config["WTF_CSRF_ENABLED"] = False


@pytest.fixture()
def company(app):
    item = Company(kind="person", name="Токенов Т. Т.")
    db.session.add(item)
    db.session.commit()
    return item


def _page_token(client) -> str:
    html = client.get("/companyview/list/").get_data(as_text=True)
    return re.search(r'<meta name="csrf-token" content="([^"]+)"', html).group(1)


def _upload(client, company, headers):
    _forget_user()
    return client.http.post(f"/api/v1/attachment/record/company/{company.id}",
                            data={"file": (io.BytesIO(b"secret plans"), "plans.txt")},
                            content_type="multipart/form-data", headers=headers)


def _files() -> int:
    return db.session.scalar(select(func.count()).select_from(Attachment))


def test_a_cross_site_multipart_upload_with_the_cookie_is_refused(client, company, csrf_on):
    resp = _upload(client, company, EVIL)
    assert resp.status_code == 403
    assert REFUSED in resp.json["message"]
    assert _files() == 0


def test_the_upload_with_the_pages_token_is_accepted(client, company, csrf_on):
    resp = _upload(client, company, {"X-CSRFToken": _page_token(client)})
    assert resp.status_code == 201, resp.get_data(as_text=True)
    assert _files() == 1


def test_json_writes_with_the_cookie_need_the_token(client, company, csrf_on):
    _forget_user()
    created = client.http.post("/api/v1/company/", json={"kind": "person", "name": "Без Т. Т."})
    _forget_user()
    changed = client.http.put(f"/api/v1/company/{company.id}", json={"name": "Подменён П. П."})
    _forget_user()
    deleted = client.http.delete(f"/api/v1/company/{company.id}")
    for resp in (created, changed, deleted):
        assert resp.status_code == 403 and REFUSED in resp.json["message"]
    db.session.expire_all()
    assert db.session.get(Company, company.id).name == "Токенов Т. Т."
    assert db.session.scalar(select(func.count()).select_from(Company)) == 1

    token = _page_token(client)
    _forget_user()
    resp = client.http.put(f"/api/v1/company/{company.id}", json={"name": "Токенов Т. Т. (изм.)"},
                           headers={"X-CSRFToken": token})
    assert resp.status_code == 200, resp.get_data(as_text=True)


def test_a_wrong_token_is_refused(client, company, csrf_on):
    resp = _upload(client, company, {"X-CSRFToken": "forged"})
    assert resp.status_code == 403 and _files() == 0


def test_reads_with_the_cookie_need_no_token(client, company, csrf_on):
    _forget_user()
    assert client.http.get(f"/api/v1/company/{company.id}", headers=EVIL).status_code == 200


def test_bearer_token_calls_need_no_csrf_token(client, company, csrf_on):
    resp = client.api("post", "/api/v1/company/", json={"kind": "person", "name": "По Т. Т."})
    assert resp.status_code == 201, resp.get_data(as_text=True)
    assert client.api("delete", f"/api/v1/company/{company.id}").status_code == 200


def test_an_anonymous_write_is_401_not_403(app, company, csrf_on):
    _forget_user()
    resp = app.test_client().post("/api/v1/company/", json={"kind": "person", "name": "А"})
    assert resp.status_code == 401
