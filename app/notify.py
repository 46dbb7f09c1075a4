"""Telling employees: an in-app notification per person (the bell) and, for those who asked
for it (`CrmUser.notify_email`), an e-mail copy through the outbox.

Called by the jobs (reminders, deadlines, escalation, the outbox's notification rows), so it
writes into the caller's transaction and is idempotent: the same `key` delivered twice makes
one notification per person and one e-mail."""
from __future__ import annotations

import hashlib

from sqlalchemy import and_, select

from app.extensions import db
from models.notification import Notification
from models.outbox import OutboxMessage
from models.user import CrmUser

KEY_MAX = 200


def bounded_key(key: str, limit: int = KEY_MAX) -> str:
    """The same long key always gives the same short one, so idempotency holds."""
    if len(key) <= limit:
        return key
    digest = hashlib.sha1(key.encode("utf-8")).hexdigest()
    return f"{key[:limit - 41]}#{digest}"


def notify_users(user_ids, text: str, *, key: str, kind: str = "process",
                 entity: str | None = None, record_id: int | None = None, due_at=None,
                 subject: str | None = None, email_body=None) -> int:
    """Returns how many people got a new in-app notification. `email_body(user_id)`, when
    given, is the e-mail copy's text for that person (an approval's decision links, which
    must never show in the app)."""
    people = []
    for user_id in user_ids or []:
        if user_id and user_id not in people:
            people.append(int(user_id))
    if not people:
        return 0
    key = bounded_key(key, 200)
    # One query for who is active, who asked for e-mail and who has it already: a reminder
    # batch runs this for every row.
    active = list(db.session.execute(
        select(CrmUser.id, CrmUser.email, CrmUser.notify_email, Notification.id)
        .outerjoin(Notification, and_(Notification.user_id == CrmUser.id,
                                      Notification.source_key == key))
        .where(CrmUser.id.in_(people), CrmUser.active.is_(True)).order_by(CrmUser.id)))
    added = 0
    for user_id, _email, _wants, existing in active:
        if existing is not None:
            continue
        db.session.add(Notification(user_id=user_id, text=text, kind=kind, entity=entity,
                                    record_id=record_id, source_key=key, due_at=due_at))
        added += 1
    # One letter per person: colleagues do not see each other's addresses.
    for user_id, email, wants, _existing in active:
        if not (wants and email):
            continue
        email_key = bounded_key(f"{key}:email:{user_id}")
        if db.session.scalar(select(OutboxMessage.id).where(
                OutboxMessage.effect_key == email_key)) is None:
            db.session.add(OutboxMessage(
                kind="email", recipients=[email], subject=(subject or text)[:300],
                body=email_body(user_id) if email_body else text,
                entity=entity, record_id=record_id, effect_key=email_key))
    return added
