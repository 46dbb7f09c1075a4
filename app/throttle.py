"""Sign-in throttling: wrong passwords lock the account for a while, and a client address
that keeps failing is refused for a while, on the form (/login/) and the API
(/api/v1/security/login) alike.

The account lock lives in the database (`ab_user.login_locked_until`, with FAB's own
`fail_login_count`), so every web process sees it and the admin can lift it («Снять
блокировку входа» on the users screen, `flask crm unlock LOGIN`). The address limit is
Flask-Limiter's, the limiter Flask-AppBuilder already creates: its counters live in Redis
when REDIS_URL is set (shared by the processes) and in memory otherwise. Only failed
attempts count: an office behind one address signs in all day without hitting it."""
from __future__ import annotations

import datetime as dt
import math

from flask import current_app, has_request_context, request
from limits import parse as parse_limit

from models.base import utcnow


def _refused_message(minutes: int, where: str = "") -> str:
    return (f"Слишком много неудачных попыток входа{where}. Повторите через {minutes} мин. "
            "или обратитесь к администратору.")


# --- the account -------------------------------------------------------------------------

def minutes_left(user, now: dt.datetime | None = None) -> int:
    """Whole minutes until the account's lock ends; 0 when it is not locked."""
    until = getattr(user, "login_locked_until", None)
    now = now or utcnow()
    if until is None or until <= now:
        return 0
    return max(1, math.ceil((until - now).total_seconds() / 60))


# What the attempt came to is kept on the request, not in `g`: an app context may outlive
# one request (the tests keep one per test).
_FAILED = "crm.login_failed"
_REFUSED = "crm.login_refused"


def refusal() -> str | None:
    """Why this request's sign-in was refused, when the throttling refused it."""
    return request.environ.get(_REFUSED) if has_request_context() else None


def refuse_locked(user) -> None:
    """The attempt is refused without looking at the password; the views show why."""
    request.environ[_REFUSED] = _refused_message(minutes_left(user))
    note_failed_attempt()


def note_failed_attempt() -> None:
    """Counts against the client's address (see `install`)."""
    request.environ[_FAILED] = True


def lock_if_too_many(user) -> bool:
    """After FAB counted a wrong password: the N-th in a row locks the account. Past the
    lock every further wrong password locks it again, until a right one or the admin
    resets the count."""
    limit = current_app.config["LOGIN_MAX_FAILURES"]
    if (user.fail_login_count or 0) < limit:
        return False
    minutes = current_app.config["LOGIN_LOCK_MINUTES"]
    user.login_locked_until = utcnow() + dt.timedelta(minutes=minutes)
    request.environ[_REFUSED] = _refused_message(minutes)
    return True


def unlock(user) -> bool:
    """Lifts the lock and forgets the wrong attempts; False when there was nothing to lift."""
    had = bool(minutes_left(user) or user.fail_login_count)
    user.login_locked_until = None
    user.fail_login_count = 0
    return had


# --- the address -------------------------------------------------------------------------

def _address_limit() -> str:
    return current_app.config["LOGIN_ADDRESS_LIMIT"]


def _address_message() -> str:
    seconds = parse_limit(_address_limit()).get_expiry()
    return _refused_message(max(1, math.ceil(seconds / 60)), " с этого адреса")


def _failed(_response) -> bool:
    return bool(request.environ.get(_FAILED))


def install(app, blueprints) -> None:
    """One counter per address shared by the sign-in form and the API login: it is tested
    before each POST and charged only for a failed one."""
    limiter = app.appbuilder.sm.limiter
    rule = limiter.shared_limit(_address_limit, scope="crm-login", methods=["POST"],
                                deduct_when=_failed, error_message=_address_message)
    for blueprint in blueprints:
        rule(blueprint)


__all__ = ["install", "lock_if_too_many", "minutes_left", "note_failed_attempt", "refusal",
           "refuse_locked", "unlock"]
