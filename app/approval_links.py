"""Signed links in an approval's e-mail copy: the approver decides from the letter without
signing in. A link names one approval row and its addressee, is signed with SECRET_KEY,
expires after APPROVAL_LINK_MAX_AGE seconds, and works once: a decided row is decided.
Opening it (GET) decides nothing, so a mail scanner that follows links changes nothing."""
from __future__ import annotations

from flask import current_app
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from app.extensions import db
from models.approval import ApprovalStep

SALT = "crm-approval-decision"
DEFAULT_MAX_AGE = 7 * 24 * 3600


class LinkRefused(Exception):
    """A link that is forged, expired or not for this row; the message is for the user."""


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=SALT)


def make_token(row_id: int, user_id: int) -> str:
    return _serializer().dumps({"row": int(row_id), "user": int(user_id)})


def read_token(token: str) -> ApprovalStep:
    """The row the link decides, or LinkRefused."""
    max_age = int(current_app.config.get("APPROVAL_LINK_MAX_AGE", DEFAULT_MAX_AGE))
    try:
        data = _serializer().loads(token, max_age=max_age)
    except SignatureExpired:
        raise LinkRefused("Срок действия ссылки истёк: откройте согласование в CRM") from None
    except BadSignature:
        raise LinkRefused("Ссылка недействительна") from None
    if not isinstance(data, dict) or not isinstance(data.get("row"), int):
        raise LinkRefused("Ссылка недействительна")
    row = db.session.get(ApprovalStep, data["row"])
    if row is None or row.user_id != data.get("user"):
        raise LinkRefused("Ссылка недействительна")
    return row


def decision_url(row_id: int, user_id: int) -> str:
    base = (current_app.config.get("BASE_URL") or "http://localhost:5000").rstrip("/")
    return f"{base}/approvals/mail/{make_token(row_id, user_id)}"


def decision_links(row_id: int) -> str:
    row = db.session.get(ApprovalStep, row_id)
    if row is None:
        return ""
    return ("Согласовать, отклонить или вернуть на доработку по ссылке (действует "
            f"однократно): {decision_url(row.id, row.user_id)}")
