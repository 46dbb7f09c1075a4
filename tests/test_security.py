"""CSRF is on outside tests: a form posted without its token changes nothing."""
import re

import pytest

from app import create_app
from app.extensions import db
from models.party import Company
from tests.factories import PASSWORD


@pytest.fixture()
def csrf_app(app):
    csrf = create_app({"TESTING": True, "WTF_CSRF_ENABLED": True,
                       "SQLALCHEMY_DATABASE_URI": app.config["SQLALCHEMY_DATABASE_URI"],
                       "SECRET_KEY": app.config["SECRET_KEY"]})
    assert csrf.config["WTF_CSRF_ENABLED"]
    return csrf


def _token(html):
    return re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html).group(1)


def test_login_and_forms_need_the_csrf_token(csrf_app):
    http = csrf_app.test_client()
    no_token = http.post("/login/", data={"username": "admin", "password": PASSWORD})
    assert "/login" in no_token.headers.get("Location", "/login")  # not signed in
    assert http.get("/companyview/list/").status_code == 302

    token = _token(http.get("/login/").get_data(as_text=True))
    signed = http.post("/login/", data={"username": "admin", "password": PASSWORD,
                                        "csrf_token": token})
    assert signed.status_code == 302 and "/login" not in signed.headers["Location"]

    data = {"kind": "legal", "name": "ООО «Без токена»", "inn": "7707083893"}
    http.post("/companyview/add", data=data)
    with csrf_app.app_context():
        assert db.session.query(Company).filter_by(name="ООО «Без токена»").count() == 0
    page = http.get("/companyview/add").get_data(as_text=True)
    http.post("/companyview/add", data={**data, "csrf_token": _token(page)})
    with csrf_app.app_context():
        assert db.session.query(Company).filter_by(name="ООО «Без токена»").count() == 1


def test_delete_by_get_is_refused_with_csrf_on(csrf_app):
    http = csrf_app.test_client()
    token = _token(http.get("/login/").get_data(as_text=True))
    http.post("/login/", data={"username": "admin", "password": PASSWORD, "csrf_token": token})
    with csrf_app.app_context():
        company = Company(kind="person", name="Иванов И. И.")
        db.session.add(company)
        db.session.commit()
        pk = company.id
    http.get(f"/companyview/delete/{pk}")
    with csrf_app.app_context():
        assert db.session.get(Company, pk) is not None
