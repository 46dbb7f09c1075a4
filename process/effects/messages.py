"""Effects that reach people: in-app notifications and e-mail to employees (`notify`), and
letters or SMS to the client (`send_message`). Each is an outbox row written in the
transaction of the change; the scheduler delivers it after commit."""
from __future__ import annotations

from sqlalchemy import select

from app.extensions import db
from models.attachment import Attachment
from models.outbox import OutboxKind, OutboxMessage
from models.timeline import add_timeline
from models.user import CrmUser
from process.effects.context import EffectContext, already_applied
from process.people import resolve_people
from process.snapshot import record_values
from rules.engine import Effect


def _outbox(kind: OutboxKind, record, entity, effect, recipients, subject, body,
            attachments=()) -> None:
    if already_applied(OutboxMessage, effect.key):
        return
    db.session.add(OutboxMessage(
        kind=kind.value, recipients=recipients, subject=subject, body=body or "", entity=entity,
        record_id=record.id, rule_key=effect.rule, transition_id=effect.key.split(":")[0],
        effect_key=effect.key, attachments=list(attachments)))


def notify(ctx: EffectContext, effect: Effect) -> None:
    """Employees: in-app by default; `channel: email` sends it to their e-mail addresses."""
    record, entity = ctx.record, ctx.entity
    people = resolve_people(effect.params["to"], record, ctx.actor_id)
    if effect.params.get("channel") == "email":
        addresses = list(db.session.scalars(select(CrmUser.email).where(
            CrmUser.id.in_(people)).order_by(CrmUser.id)))
        files = _message_attachments(record, entity, effect.params.get("attachments"))
        _outbox(OutboxKind.email, record, entity, effect, addresses,
                effect.params["text"][:300], effect.params["text"], files)
        return
    _outbox(OutboxKind.notification, record, entity, effect, people, None,
            effect.params["text"])


def client_addresses(record) -> list[str]:
    addresses = [getattr(c, "email", None) for c in getattr(record, "contacts", None) or []]
    contact = getattr(record, "contact", None)
    addresses += [getattr(contact, "email", None), getattr(record, "email", None),
                  getattr(getattr(record, "company", None), "email", None)]
    out = []
    for address in addresses:
        if address and address not in out:
            out.append(address)
    return out[:1] if out else []


def _client_phones(record) -> list[str]:
    """The client's phone for an SMS: the record's own field (a custom «Телефон» of seed 004),
    then its contacts, then the company."""
    phones = [record_values(record).get("phone")]
    phones += [getattr(c, "phone", None) for c in getattr(record, "contacts", None) or []]
    contact = getattr(record, "contact", None)
    phones += [getattr(contact, "phone", None),
               getattr(getattr(record, "company", None), "phone", None)]
    return next(([str(p)] for p in phones if p and str(p).strip()), [])


def _send_sms(record, entity, effect) -> None:
    to = _client_phones(record)
    _outbox(OutboxKind.sms, record, entity, effect, to, effect.params["subject"],
            effect.params["body"])
    add_timeline(entity, record.id, "system",
                 f"СМС клиенту «{effect.params['subject']}» поставлено в очередь"
                 + (f" ({to[0]})" if to else " (у клиента нет телефона)"), author_id=0)


def send_message(ctx: EffectContext, effect: Effect) -> None:
    record, entity = ctx.record, ctx.entity
    if effect.params.get("channel") == "sms":
        _send_sms(record, entity, effect)
        return
    to = client_addresses(record)
    wanted = effect.params.get("attachments")
    files = _message_attachments(record, entity, wanted)
    _outbox(OutboxKind(effect.params.get("channel") or "email"), record, entity, effect, to,
            effect.params["subject"], effect.params["body"], files)
    note = f", вложений: {len(files)}" if files else \
        (", файлы для вложения не найдены" if wanted else "")
    add_timeline(entity, record.id, "system",
                 f"Письмо клиенту «{effect.params['subject']}» поставлено в очередь"
                 + (f" ({to[0]}{note})" if to else f" (у клиента нет адреса e-mail{note})"),
                 author_id=0)


def _message_attachments(record, entity, spec) -> list[int]:
    """Attachment ids for a letter. `spec` names file fields of the record (each holds an
    Attachment id or a list of them; an empty one falls back to the record's first file, as
    in `_attached_files`) or gives ids. Only files of this very record are kept: a value
    pointing elsewhere must never mail another record's file to this client."""
    if not spec:
        return []
    values = record_values(record)
    wanted: list[int] = []
    for item in [spec] if isinstance(spec, (str, int)) else spec:
        value = values.get(item) if isinstance(item, str) and not item.isdigit() else item
        for one in value if isinstance(value, (list, tuple)) else [value]:
            if isinstance(one, bool):
                continue
            try:
                wanted.append(int(one))
            except (TypeError, ValueError):
                continue
    if not wanted:
        return []
    own = set(db.session.scalars(select(Attachment.id).where(
        Attachment.entity == entity, Attachment.record_id == record.id,
        Attachment.id.in_(wanted))))
    return list(dict.fromkeys(i for i in wanted if i in own))
