"""Logging out, changing one's password or an admin resetting it ends the user's other
sessions and API tokens; the session cookie is HttpOnly, SameSite=Lax and, in production,
Secure."""
from __future__ import annotations

import importlib

import pytest

import config
from tests.conftest import PASSWORD, _forget_user
from tests.factories import make_user

NEW_PASSWORD = "New-Pa55word-2"


@pytest.fixture()
def worker(app):
    return make_user("worker", ["manager"])


def _signed_in(client) -> bool:
    resp = client.get("/companyview/list/")
    return resp.status_code == 200


def _token(client) -> str:
    client.api("get", "/api/v1/company/")
    return client._token


def _bearer(app, token: str, url: str = "/api/v1/company/"):
    _forget_user()
    resp = app.test_client().get(url, headers={"Authorization": f"Bearer {token}"})
    _forget_user()
    return resp


def _refresh_token(app, password=PASSWORD) -> str:
    _forget_user()
    resp = app.test_client().post("/api/v1/security/login", json={
        "username": "worker", "password": password, "provider": "db", "refresh": True})
    _forget_user()
    return resp.json["refresh_token"]


def test_logging_out_ends_the_other_sessions_and_tokens(app, login, worker):
    laptop, phone, script = login("worker"), login("worker"), login("worker")
    token = _token(script)
    refresh = _refresh_token(app)
    assert _signed_in(laptop) and _signed_in(phone)
    assert _bearer(app, token).status_code == 200

    laptop.get("/logout/")

    assert not _signed_in(laptop)
    resp = phone.get("/companyview/list/")
    assert resp.status_code == 302 and "/login/" in resp.headers["Location"]
    revoked = _bearer(app, token)
    assert revoked.status_code == 401
    assert revoked.json["message"] == "Сеанс завершён: войдите заново"
    _forget_user()
    again = app.test_client().post("/api/v1/security/refresh",
                                   headers={"Authorization": f"Bearer {refresh}"})
    assert again.status_code == 401
    # signing in again works, and a new token with it
    assert _signed_in(login("worker"))
    assert _bearer(app, _token(login("worker"))).status_code == 200


def test_a_password_change_keeps_this_session_and_ends_the_others(app, login, worker):
    me, other = login("worker"), login("worker")
    token = _token(login("worker"))
    resp = me.post("/resetmypassword/form", data={"password": NEW_PASSWORD,
                                                   "conf_password": NEW_PASSWORD})
    assert resp.status_code == 302
    assert _signed_in(me)
    assert not _signed_in(other)
    assert _bearer(app, token).status_code == 401


def test_an_admin_reset_ends_the_users_sessions_and_tokens(app, login, worker):
    session = login("worker")
    token = _token(login("worker"))
    admin = login("admin")
    resp = admin.post(f"/resetpassword/form?pk={worker.id}",
                      data={"password": NEW_PASSWORD, "conf_password": NEW_PASSWORD})
    assert resp.status_code == 302
    assert not _signed_in(session)
    assert _bearer(app, token).status_code == 401
    assert _signed_in(admin)  # the admin's own session goes on


def test_a_copied_cookie_of_a_logged_out_session_is_refused(app, login, worker):
    browser = login("worker")
    cookie = browser.http.get_cookie("session").value
    browser.get("/logout/")
    _forget_user()
    thief = app.test_client()
    thief.set_cookie("session", cookie, domain="localhost")
    resp = thief.get("/companyview/list/")
    assert resp.status_code == 302 and "/login/" in resp.headers["Location"]


def test_other_users_sessions_go_on(app, login, worker):
    bystander = login("manager")
    login("worker").get("/logout/")
    assert _signed_in(bystander)


def test_the_session_cookie_is_httponly_and_samesite_lax(app):
    _forget_user()
    resp = app.test_client().post("/login/", data={"username": "admin", "password": PASSWORD})
    cookie = resp.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert "Secure" not in cookie  # plain HTTP in development


def test_production_cookies_are_secure(app, monkeypatch):
    monkeypatch.setenv("CRM_SECURE_COOKIES", "1")
    try:
        assert importlib.reload(config).Config.SESSION_COOKIE_SECURE is True
    finally:
        monkeypatch.delenv("CRM_SECURE_COOKIES")
        importlib.reload(config)
    assert config.Config.SESSION_COOKIE_SECURE is False
    app.config["SESSION_COOKIE_SECURE"] = True
    try:
        _forget_user()
        resp = app.test_client().post("/login/", data={"username": "admin",
                                                       "password": PASSWORD})
        assert "Secure" in resp.headers["Set-Cookie"]
    finally:
        app.config["SESSION_COOKIE_SECURE"] = False
