"""Security headers on every response, and pages that satisfy their own Content-Security-
Policy: every <script> carries the request's nonce, no inline event handler, no
`javascript:` link. (Checked on the HTML the server sends; the screens were not opened
in a browser by this suite.)"""
from __future__ import annotations

import io
import re
from html.parser import HTMLParser

import pytest

from app.extensions import db
from models.party import Company
from tests.conftest import PASSWORD, _forget_user

HEADERS = {
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}
URL_ATTRS = ("href", "src", "action", "formaction")


def assert_secure_headers(resp) -> None:
    for name, value in HEADERS.items():
        assert resp.headers.get(name) == value, (name, resp.headers.get(name))
    csp = resp.headers.get("Content-Security-Policy", "")
    assert "frame-ancestors 'none'" in csp, csp
    assert "object-src 'none'" in csp, csp
    script_src = re.search(r"script-src ([^;]+)", csp).group(1).split()
    assert "'unsafe-inline'" not in script_src and "'unsafe-eval'" not in script_src, csp


class _Scan(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.scripts: list[dict] = []
        self.problems: list[str] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "script":
            self.scripts.append(attrs)
        for name, value in attrs.items():
            if name.startswith("on"):
                self.problems.append(f"<{tag} {name}=…>")
            if name in URL_ATTRS and (value or "").strip().lower().startswith("javascript:"):
                self.problems.append(f"<{tag} {name}={value}>")


def assert_page_satisfies_csp(resp) -> int:
    """The HTML runs under its own policy: returns the number of scripts checked."""
    csp = resp.headers["Content-Security-Policy"]
    nonce = re.search(r"'nonce-([^']+)'", csp).group(1)
    scan = _Scan()
    scan.feed(resp.get_data(as_text=True))
    assert scan.problems == [], f"{resp.request.path}: {scan.problems}"
    for script in scan.scripts:
        assert script.get("nonce") == nonce, f"{resp.request.path}: <script {script}>"
    return len(scan.scripts)


@pytest.fixture()
def company(app):
    item = Company(kind="person", name="Заголовков З. З.")
    db.session.add(item)
    db.session.commit()
    return item


def test_every_kind_of_response_has_the_headers(app, client, company):
    _forget_user()
    anonymous = app.test_client()
    responses = [
        anonymous.get("/login/"), anonymous.get("/"), anonymous.get("/no-such-page/"),
        anonymous.get("/api/v1/company/"),
        anonymous.get("/static/crm.js"),
        client.get("/"), client.get("/companyview/list/"),
        client.get(f"/companyview/show/{company.id}"), client.get("/companyview/add"),
        client.get("/companyview/export/"), client.api("get", "/api/v1/company/"),
        client.api("get", "/api/v1/company/999999"),
    ]
    for resp in responses:
        assert_secure_headers(resp)


def test_each_response_gets_its_own_nonce(client):
    first = client.get("/companyview/list/").headers["Content-Security-Policy"]
    second = client.get("/companyview/list/").headers["Content-Security-Policy"]
    assert first != second


def test_the_main_pages_satisfy_the_policy(app, client, company):
    _forget_user()
    pages = [app.test_client().get("/login/"), client.get("/"),
             client.get("/companyview/list/"), client.get(f"/companyview/show/{company.id}"),
             client.get("/companyview/add"), client.get(f"/companyview/edit/{company.id}"),
             client.get("/no-such-page/"), client.get("/users/list/"),
             client.get("/notificationview/list/")]
    scripts = 0
    for resp in pages:
        assert resp.status_code in (200, 404), resp.request.path
        scripts += assert_page_satisfies_csp(resp)
    assert scripts > 20  # FAB's own scripts are there, with the nonce


def test_a_record_page_with_files_and_stage_buttons_satisfies_the_policy(app, client):
    from process.catalog import install_shipped
    from tests.test_pipeline_fixtures import make_deal

    install_shipped()
    db.session.commit()
    deal = make_deal("Сделка с файлом", "admin")
    client.post(f"/crm/attachment/upload/deal/{deal.id}",
                data={"file": (io.BytesIO(b"report"), "report.txt")},
                content_type="multipart/form-data")
    page = client.get(f"/dealview/show/{deal.id}")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "report.txt" in html and 'data-confirm="Удалить файл' in html
    assert_page_satisfies_csp(page)
    form = client.get("/dealview/add")
    assert "crm-custom-group" in form.get_data(as_text=True)  # several pipelines' fields
    assert assert_page_satisfies_csp(form) > 0


def test_the_error_page_goes_back_without_a_javascript_link(client):
    html = client.get("/no-such-page/").get_data(as_text=True)
    assert "javascript:" not in html and "data-crm-back" in html


def test_the_static_script_binds_what_inline_handlers_did(app):
    _forget_user()
    script = app.test_client().get("/static/crm.js").get_data(as_text=True)
    assert "data-confirm" in script and "data-crm-back" in script


def test_every_menu_page_satisfies_the_policy(demo_app):
    """Every page of the admin's menu on demo data, and each process diagram."""
    _forget_user()
    http = demo_app.test_client()
    assert http.post("/login/", data={"username": "admin",
                                      "password": PASSWORD}).status_code == 302
    _forget_user()
    home = http.get("/").get_data(as_text=True)
    urls = {u for u in re.findall(r'href="(/[^"#]*)"', home)
            if not u.startswith(("/logout", "/static", "/lang"))}
    urls |= {f"/crm/process/show/{key}" for key in re.findall(
        r'href="/crm/process/show/([a-z0-9_]+)"',
        http.get("/crm/process/list/").get_data(as_text=True))}
    checked = 0
    for url in sorted(urls):
        _forget_user()
        resp = http.get(url)
        if resp.status_code == 200 and resp.mimetype == "text/html":
            assert_page_satisfies_csp(resp)
            checked += 1
    assert checked > 25, checked
