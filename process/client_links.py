"""Links for the client: making one (a token derived from a random nonce with SECRET_KEY
and signed; the row keeps the nonce and the token's SHA-256, so the URL can be shown again
while a copy of the database alone opens nothing), finding the link behind a token,
telling the record's timeline and the responsible manager that the client opened it,
revoking it and e-mailing it to the client.

Who may make or revoke a link is the view's question (the write right on the record); this
module trusts its caller."""
from __future__ import annotations

import datetime as dt
import base64
import hashlib
import hmac
import secrets

from flask import current_app
from itsdangerous import BadSignature, Signer
from sqlalchemy import select, update

from app.extensions import db
from app.formatting import to_local
from documents.kinds import KINDS
from errors import CrmError
from models.base import utcnow
from models.brief import Brief
from models.client_link import ClientLink
from models.document import Document, VersionStatus
from models.outbox import OutboxKind, OutboxMessage
from models.registry import get_record
from models.timeline import add_timeline

SALT = "crm-client-link"
DEFAULT_DAYS = 30
MAX_DAYS = 365
# Openings of one link closer than this to the last one told are counted, not told again.
LOG_EVERY = dt.timedelta(minutes=5)


class LinkRefused(CrmError):
    http_status = 422


class LinkInvalid(Exception):
    """The token opens nothing: 404 unknown or forged, 410 expired or revoked. The client
    is told the same words either way."""

    def __init__(self, status: int):
        super().__init__(status)
        self.status = status


def _signer() -> Signer:
    return Signer(current_app.config["SECRET_KEY"], salt=SALT)


def token_hash(raw: str) -> str:
    return hashlib.sha256(raw.encode("ascii")).hexdigest()


def link_url(token: str) -> str:
    base = (current_app.config.get("BASE_URL") or "http://localhost:5000").rstrip("/")
    return f"{base}/c/{token}"


def parse_days(value) -> int:
    """The manager's «действует дней»: 1..365, 30 when left empty."""
    if value in (None, ""):
        return DEFAULT_DAYS
    try:
        days = int(str(value).strip())
    except ValueError:
        raise LinkRefused("Срок действия ссылки: укажите число дней") from None
    if not 1 <= days <= MAX_DAYS:
        raise LinkRefused(f"Срок действия ссылки: от 1 до {MAX_DAYS} дней")
    return days


def ready_version(document: Document):
    """The newest rendered version: what the client sees (a regenerated document replaces
    the older file behind the same link)."""
    ready = [v for v in document.versions if v.status == VersionStatus.ready.value
             and v.attachment_id]
    return ready[-1] if ready else None


def _raw(nonce: str) -> str:
    key = current_app.config["SECRET_KEY"]
    key = key.encode("utf-8") if isinstance(key, str) else key
    digest = hmac.new(key, f"{SALT}:{nonce}".encode("ascii"), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode("ascii").rstrip("=")


def token_of(link: ClientLink) -> str:
    """The link's token, rebuilt from its nonce: the manager copies or resends it later."""
    return _signer().sign(_raw(link.nonce)).decode("ascii")


def _new_link(entity: str, record_id: int, days: int, **target) -> tuple[ClientLink, str]:
    nonce = secrets.token_urlsafe(32)
    link = ClientLink(token_hash=token_hash(_raw(nonce)), nonce=nonce, entity=entity,
                      record_id=record_id, expires_at=utcnow() + dt.timedelta(days=days),
                      **target)
    db.session.add(link)
    db.session.flush()
    return link, token_of(link)


def create_for_document(document: Document, days: int = DEFAULT_DAYS
                        ) -> tuple[ClientLink, str]:
    """A link to the document and its token."""
    if ready_version(document) is None:
        raise LinkRefused(f"Документ № {document.number} ещё не сформирован: ссылку можно "
                          "создать на готовый документ")
    link, token = _new_link(document.entity, document.record_id, days,
                            document_id=document.id)
    add_timeline(document.entity, document.record_id, "document",
                 f"Создана ссылка для клиента: {describe(link)} (действует до "
                 f"{to_local(link.expires_at):%d.%m.%Y})", payload={"client_link": link.id})
    return link, token


def create_for_brief(brief: Brief, days: int = DEFAULT_DAYS) -> tuple[ClientLink, str]:
    return _new_link(brief.entity, brief.record_id, days, brief_id=brief.id)


def signed_link(token: str) -> ClientLink | None:
    """The link a genuine token was made for, live or not; None for a forged one."""
    try:
        raw = _signer().unsign(token.encode("ascii")).decode("ascii")
    except (BadSignature, UnicodeError, ValueError):
        return None
    return db.session.scalar(select(ClientLink).where(ClientLink.token_hash == token_hash(raw)))


def find(token: str) -> ClientLink:
    """The live link behind a token, or LinkInvalid."""
    link = signed_link(token)
    if link is None or get_record(link.entity, link.record_id) is None:
        raise LinkInvalid(404)
    if link.revoked_at is not None or link.is_expired():
        raise LinkInvalid(410)
    if link.document_id is not None and ready_version(link.document) is None:
        raise LinkInvalid(404)
    return link


def describe(link: ClientLink) -> str:
    """«Коммерческое предложение № 3», «анкета «Бриф на упаковку»»."""
    if link.document is not None:
        return f"{KINDS[link.document.kind].title} № {link.document.number}"
    if link.brief is not None:
        return f"анкета «{link.brief.title}»"
    return "ссылка"


def opened(link: ClientLink) -> None:
    """Counts an opening; tells the timeline unless it told one a few minutes ago, and the
    responsible manager on the very first opening. Written in the caller's transaction."""
    now = utcnow()
    table = ClientLink.__table__
    first = db.session.execute(
        update(table).where(table.c.id == link.id, table.c.first_opened_at.is_(None))
        .values(first_opened_at=now)).rowcount == 1
    tell = db.session.execute(
        update(table).where(table.c.id == link.id).where(
            (table.c.last_logged_at.is_(None)) | (table.c.last_logged_at <= now - LOG_EVERY))
        .values(last_logged_at=now)).rowcount == 1
    db.session.execute(update(table).where(table.c.id == link.id).values(
        open_count=table.c.open_count + 1, last_opened_at=now))
    db.session.expire(link, ["open_count", "last_opened_at", "first_opened_at",
                             "last_logged_at"])
    text = f"Клиент открыл {_accusative(link)} {to_local(now):%d.%m в %H:%M}"
    if tell:
        add_timeline(link.entity, link.record_id, "system", text,
                     payload={"client_link": link.id}, author_id=0)
    if first:
        responsible = _responsible_id(link)
        if responsible:
            db.session.add(OutboxMessage(
                kind=OutboxKind.notification.value, recipients=[responsible], body=text,
                entity=link.entity, record_id=link.record_id,
                effect_key=f"client-link-opened:{link.id}"))


def _accusative(link: ClientLink) -> str:
    """«Клиент открыл Коммерческое предложение № 3», «… Спецификацию № 2», «… анкету «…»»."""
    if link.brief is not None:
        return f"анкету «{link.brief.title}»"
    what = describe(link)
    first, _, rest = what.partition(" ")
    if first.endswith("ия"):
        first = first[:-2] + "ию"
    return f"{first} {rest}".strip()


def _responsible_id(link: ClientLink) -> int | None:
    record = get_record(link.entity, link.record_id)
    return getattr(record, "responsible_id", None) if record is not None else None


def revoke(link: ClientLink, user_id: int | None) -> bool:
    if link.revoked_at is not None:
        return False
    link.revoked_at, link.revoked_by_id = utcnow(), user_id
    add_timeline(link.entity, link.record_id, "system",
                 f"Ссылка для клиента отозвана: {describe(link)}",
                 payload={"client_link": link.id})
    return True


def client_address(record) -> str | None:
    """The client's e-mail: the record's contact, its contacts, then the company."""
    candidates = [getattr(record, "email", None),
                  getattr(getattr(record, "contact", None), "email", None)]
    candidates += [getattr(c, "email", None) for c in getattr(record, "contacts", None) or []]
    candidates.append(getattr(getattr(record, "company", None), "email", None))
    return next((a.strip() for a in candidates if a and a.strip()), None)


def send_by_email(link: ClientLink, token: str, address: str) -> OutboxMessage:
    """An outbox letter with the link. The token is in the letter only (the table keeps its
    hash), so a link is mailed right after it is made."""
    what = describe(link)
    expires = f"{to_local(link.expires_at):%d.%m.%Y}"
    if link.brief is not None:
        subject = f"Анкета «{link.brief.title}»"
        body = (f"Здравствуйте!\n\nПросим заполнить анкету «{link.brief.title}» по ссылке:\n"
                f"{link_url(token)}\n\nСсылка действует до {expires}.")
    else:
        subject = what
        body = (f"Здравствуйте!\n\nНаправляем {what[0].lower() + what[1:]}. Документ "
                f"можно посмотреть и скачать по ссылке:\n{link_url(token)}\n\n"
                f"Ссылка действует до {expires}.")
    message = OutboxMessage(kind=OutboxKind.email.value, recipients=[address],
                            subject=subject[:300], body=body, entity=link.entity,
                            record_id=link.record_id,
                            effect_key=f"client-link-mail:{link.id}:{secrets.token_hex(4)}")
    db.session.add(message)
    link.sent_to = address[:300]
    add_timeline(link.entity, link.record_id, "system",
                 f"Ссылка для клиента ({what}) отправлена по e-mail: {address}",
                 payload={"client_link": link.id})
    return message


def links_of(entity: str, record_id: int) -> list[ClientLink]:
    return list(db.session.scalars(select(ClientLink).where(
        ClientLink.entity == entity, ClientLink.record_id == record_id)
        .order_by(ClientLink.id.desc())))
