"""Sessions and API tokens end together with the reason to trust them.

Every user has an epoch (`ab_user.auth_epoch`). A browser session remembers the epoch it
signed in under, an API token carries it as a claim; both are honoured only while it is
still the user's epoch. Logging out, changing one's password or an admin resetting it
moves the epoch on, so a copied cookie or a token handed out earlier stops working at its
next request (the screens send it to the sign-in page, the API answers 401). The session
cookie is signed, so a client cannot write another epoch into it."""
from __future__ import annotations

from flask import has_request_context, session
from flask_login import current_user

from app.extensions import db
from models.user import CrmUser

SESSION_KEY = "crm_epoch"
CLAIM = "crm_epoch"


def _epoch(user) -> int:
    return user.auth_epoch or 0


def remember(user) -> None:
    """At sign-in (flask-login's user_logged_in): the session belongs to this epoch."""
    session[SESSION_KEY] = _epoch(user)


def session_is_current(user) -> bool:
    return session.get(SESSION_KEY) == _epoch(user)


def end_other_sessions(user) -> None:
    """Moves the user's epoch on in the caller's transaction. The session making the change
    stays signed in when it is the user's own (a password changed on the profile)."""
    user.auth_epoch = _epoch(user) + 1
    if has_request_context() and getattr(current_user, "is_authenticated", False) \
            and current_user.id == user.id:
        remember(user)


def _user(identity):
    try:
        return db.session.get(CrmUser, int(identity))
    except (TypeError, ValueError):
        return None


def token_claims(identity) -> dict:
    """Claims added to every access and refresh token FAB issues (identity: the user id)."""
    user = _user(identity)
    return {CLAIM: _epoch(user) if user is not None else -1}


def token_is_revoked(_header: dict, payload: dict) -> bool:
    """flask-jwt-extended's blocklist check: a token of an earlier epoch is revoked."""
    user = _user(payload.get("sub"))
    return user is None or payload.get(CLAIM) != _epoch(user)


__all__ = ["CLAIM", "SESSION_KEY", "end_other_sessions", "remember", "session_is_current",
           "token_claims", "token_is_revoked"]
