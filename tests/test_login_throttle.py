"""Sign-in throttling: wrong passwords lock the account (form and API alike) until the lock
ends or the admin lifts it; an address that keeps failing is refused for a while."""
from __future__ import annotations

import datetime as dt

import pytest
import time_machine

from app.extensions import db
from models.user import CrmUser
from tests.conftest import PASSWORD, _forget_user, flashes
from tests.factories import make_user

LOCKED = "Слишком много неудачных попыток входа. Повторите через"
ADMIN_HINT = "обратитесь к администратору"


@pytest.fixture()
def victim(app):
    return make_user("victim", ["manager"])


def _form(app, username, password, address="10.20.0.1"):
    """A sign-in on the form from `address`: (status, flashed messages, signed in?)."""
    _forget_user()
    http = app.test_client()
    resp = http.post("/login/", data={"username": username, "password": password},
                     environ_base={"REMOTE_ADDR": address})
    signed_in = resp.status_code == 302 and "/login" not in resp.headers["Location"]
    _forget_user()
    page = http.get("/login/", environ_base={"REMOTE_ADDR": address}) if not signed_in else None
    _forget_user()
    return resp.status_code, (flashes(page.get_data(as_text=True)) if page else []), signed_in


def _api(app, username, password, address="10.20.0.1"):
    _forget_user()
    resp = app.test_client().post(
        "/api/v1/security/login", environ_base={"REMOTE_ADDR": address},
        json={"username": username, "password": password, "provider": "db"})
    _forget_user()
    return resp


def _reload(user) -> CrmUser:
    db.session.expire_all()
    return db.session.get(CrmUser, user.id)


def test_thirty_wrong_passwords_on_the_form_lock_the_account(app, victim):
    for _ in range(30):
        status, _messages, signed_in = _form(app, "victim", "wrong-password")
        assert status == 302 and not signed_in
    status, messages, signed_in = _form(app, "victim", PASSWORD)
    assert not signed_in
    assert any(LOCKED in m and ADMIN_HINT in m for m in messages), messages
    # the lock is the account's: another address is refused too
    assert not _form(app, "victim", PASSWORD, address="10.20.0.2")[2]
    assert _reload(victim).login_locked_until is not None


def test_the_api_login_is_locked_the_same_way(app, victim):
    for _ in range(30):
        assert _api(app, "victim", "wrong-password", "10.20.1.1").status_code == 401
    resp = _api(app, "victim", PASSWORD, "10.20.1.1")
    assert resp.status_code == 401
    assert LOCKED in resp.json["message"] and ADMIN_HINT in resp.json["message"]
    # and the form says the same for the lock the API attempts set
    _status, messages, signed_in = _form(app, "victim", PASSWORD, "10.20.1.2")
    assert not signed_in and any(LOCKED in m for m in messages)


def test_fewer_wrong_passwords_than_the_limit_do_not_lock(app, victim):
    limit = app.config["LOGIN_MAX_FAILURES"]
    for _ in range(limit - 1):
        _form(app, "victim", "wrong-password", "10.20.2.1")
    assert _form(app, "victim", PASSWORD, "10.20.2.1")[2]
    assert _reload(victim).fail_login_count == 0  # a right password starts the count again


def test_the_lock_ends_by_itself(app, victim):
    for _ in range(app.config["LOGIN_MAX_FAILURES"]):
        _form(app, "victim", "wrong-password", "10.20.3.1")
    assert not _form(app, "victim", PASSWORD, "10.20.3.1")[2]
    later = dt.datetime.now(dt.timezone.utc) + dt.timedelta(
        minutes=app.config["LOGIN_LOCK_MINUTES"] + 1)
    with time_machine.travel(later, tick=False):
        assert _form(app, "victim", PASSWORD, "10.20.3.2")[2]


def test_the_admin_lifts_the_lock_on_the_users_screen(app, victim, login):
    for _ in range(30):
        _form(app, "victim", "wrong-password", "10.20.4.1")
    admin = login("admin")
    page = admin.get(f"/users/show/{victim.id}").get_data(as_text=True)
    assert "Снять блокировку входа" in page
    resp = admin.post(f"/users/action/unlock_login/{victim.id}")
    assert resp.status_code == 302
    assert any("Блокировка входа снята: victim" in m
               for m in flashes(admin.get(resp.headers["Location"]).get_data(as_text=True)))
    user = _reload(victim)
    assert user.login_locked_until is None and user.fail_login_count == 0
    assert _form(app, "victim", PASSWORD, "10.20.4.1")[2]


def test_the_admin_lifts_locks_of_several_users_from_the_list(app, victim, login):
    other = make_user("victim2", ["manager"])
    for name in ("victim", "victim2"):
        for _ in range(app.config["LOGIN_MAX_FAILURES"]):
            _form(app, name, "wrong-password", "10.20.5.1")
    admin = login("admin")
    assert "Снять блокировку входа" in admin.get("/users/list/").get_data(as_text=True)
    admin.post("/users/action_post", data={"action": "unlock_login",
                                            "rowid": [str(victim.id), str(other.id)]})
    assert _reload(victim).login_locked_until is None
    assert _reload(other).login_locked_until is None


def test_a_manager_cannot_lift_a_lock(app, victim, login):
    for _ in range(app.config["LOGIN_MAX_FAILURES"]):
        _form(app, "victim", "wrong-password", "10.20.6.1")
    manager = login("manager")
    manager.post(f"/users/action/unlock_login/{victim.id}")
    assert _reload(victim).login_locked_until is not None


def test_flask_crm_unlock(app, victim, runner):
    for _ in range(app.config["LOGIN_MAX_FAILURES"]):
        _api(app, "victim", "wrong-password", "10.20.7.1")
    assert _reload(victim).login_locked_until is not None
    result = runner.invoke(args=["crm", "unlock", "victim"])
    assert result.exit_code == 0, result.output
    assert "victim" in result.output and "снята" in result.output
    assert _reload(victim).login_locked_until is None
    assert _api(app, "victim", PASSWORD, "10.20.7.1").status_code == 200
    missing = runner.invoke(args=["crm", "unlock", "nobody"])
    assert missing.exit_code == 1 and "не найден" in missing.output


def test_failed_attempts_from_one_address_are_limited(app, victim):
    """Spraying many accounts from one address: after the address limit even a right
    password from there is refused (429, in Russian), on the form and the API; another
    address still signs in."""
    old = app.config["LOGIN_ADDRESS_LIMIT"]
    app.config["LOGIN_ADDRESS_LIMIT"] = "5 per 15 minutes"
    try:
        for i in range(3):
            assert _form(app, f"nobody{i}", "wrong", "10.30.0.1")[0] == 302
        for i in range(2):
            assert _api(app, f"nobody{i}", "wrong", "10.30.0.1").status_code == 401
        page = app.test_client().post("/login/", data={"username": "victim",
                                                       "password": PASSWORD},
                                      environ_base={"REMOTE_ADDR": "10.30.0.1"})
        assert page.status_code == 429
        text = page.get_data(as_text=True)
        assert "Слишком много неудачных попыток входа с этого адреса" in text
        api = _api(app, "victim", PASSWORD, "10.30.0.1")
        assert api.status_code == 429
        assert "с этого адреса" in api.json["message"]
        assert _form(app, "victim", PASSWORD, "10.30.0.2")[2]
        assert _reload(victim).login_locked_until is None  # the account itself is not locked
    finally:
        app.config["LOGIN_ADDRESS_LIMIT"] = old


def test_successful_sign_ins_do_not_count_against_the_address(app, victim):
    old = app.config["LOGIN_ADDRESS_LIMIT"]
    app.config["LOGIN_ADDRESS_LIMIT"] = "3 per 15 minutes"
    try:
        for _ in range(6):
            assert _form(app, "victim", PASSWORD, "10.30.1.1")[2]
            assert _api(app, "victim", PASSWORD, "10.30.1.1").status_code == 200
    finally:
        app.config["LOGIN_ADDRESS_LIMIT"] = old
