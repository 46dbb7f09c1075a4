"""Администрирование → «Исходящие сообщения»: the outbox as the jobs see it (e-mail, SMS,
in-app notifications), why a message failed, and the two things an admin may do about it:
send it again, or cancel it. Rows are written by processes and delivered by the jobs; no
one adds or edits them here."""
from __future__ import annotations

from flask import current_app, flash, redirect, url_for
from flask_appbuilder.actions import action
from flask_appbuilder.models.sqla.interface import SQLAInterface
from markupsafe import Markup
from sqlalchemy import select, update
from wtforms import SelectField

from app.extensions import db
from app.mail import smtp_configured
from models.attachment import Attachment
from models.labels import OUTBOX_LABELS
from models.outbox import (OUTBOX_KIND_LABELS, OUTBOX_STATUS_LABELS, OutboxMessage,
                           OutboxStatus)
from models.registry import entities
from models.user import CrmUser
from views.base import CrmModelView, ManagedActionsMixin, register
from views.task import LINKABLE_ENTITIES, format_record_link

RESOURCE = "outbox"
# Retry and cancel need more than reading. Not "can_write": that right opens add and edit
# forms on a generated screen, and nobody may write outbox rows by hand.
MANAGE = "manage"
RETRYABLE = (OutboxStatus.failed.value, OutboxStatus.held.value,
             OutboxStatus.cancelled.value)
# Not "enqueued": a worker holds that row and may be sending it right now.
CANCELLABLE = (OutboxStatus.pending.value, OutboxStatus.held.value,
               OutboxStatus.failed.value)
DELIVERED_VIA_LABELS = {"smtp": "SMTP", "log": "Журнал (SMS не отправляются)",
                        "app": "В приложении"}



def _label(labels: dict):
    return lambda value: labels.get(value, value or "")


def _text_block(value) -> Markup:
    """The letter as written: its line breaks kept, its text escaped."""
    return Markup('<div style="white-space: pre-wrap">{}</div>').format(value or "")


def _recipients_text(self) -> str:
    """Addresses and phones as they are; user ids of a notification as the users' names."""
    values = self.recipients or []
    if isinstance(values, (str, int)):
        values = [values]
    if self.kind != "notification":
        return ", ".join(str(v) for v in values)
    ids = [v for v in values if isinstance(v, int) and not isinstance(v, bool)]
    names = {u.id: str(u) for u in db.session.scalars(
        select(CrmUser).where(CrmUser.id.in_(ids)))} if ids else {}
    return ", ".join(names.get(v, f"Пользователь № {v}") for v in values)


def _record_ref(self):
    return (self.entity, self.record_id) if self.entity and self.record_id else None


def _attachments_text(self) -> str:
    ids = [i for i in self.attachments or [] if isinstance(i, int)]
    found = {a.id: a.filename for a in db.session.scalars(
        select(Attachment).where(Attachment.id.in_(ids)))} if ids else {}
    return ", ".join(found.get(i, f"файл № {i} (удалён)") for i in self.attachments or [])


# Read-side helpers of this screen; models/outbox.py stays the jobs' model. Set only where
# the model does not define them itself.
for _name, _func in (("recipients_text", _recipients_text), ("record_ref", _record_ref),
                     ("attachments_text", _attachments_text)):
    if not hasattr(OutboxMessage, _name):
        setattr(OutboxMessage, _name, property(_func))


def _entity_choices():
    """The records processes write letters for, by their Russian names."""
    known = entities()
    out = [(key, getattr(known[key], "__label__", "") or key) for key in LINKABLE_ENTITIES
           if key in known]
    return [("", "—")] + sorted(out, key=lambda pair: pair[1])


def _statuses(values) -> str:
    """("failed", "held", "cancelled") -> «Ошибка», «…» или «Отменено»."""
    names = [f"«{OUTBOX_STATUS_LABELS[v]}»" for v in values]
    return ", ".join(names[:-1]) + " или " + names[-1] if len(names) > 1 else names[0]


def _may_manage() -> bool:
    return current_app.appbuilder.sm.has_access(f"can_{MANAGE}", RESOURCE)


def _smtp_note(items) -> str | None:
    """A held letter sent again with SMTP still missing is held again: say so now."""
    if smtp_configured(current_app.config) or not any(i.kind == "email" for i in items):
        return None
    return ("SMTP-сервер не настроен (SMTP_HOST): письма снова не будут отправлены, пока "
            "сервер не указан в настройках")


def outbox_actions(pk) -> list[dict]:
    """The buttons the record page offers: those the message's status allows, for a user
    who may use them."""
    try:
        message = db.session.get(OutboxMessage, int(pk))
    except (TypeError, ValueError):
        return []
    if message is None or not _may_manage():
        return []
    out = []
    if message.status in RETRYABLE:
        out.append({"name": "retry", "label": "Повторить отправку", "icon": "fa-repeat",
                    "style": "primary"})
    if message.status in CANCELLABLE:
        out.append({"name": "cancel", "label": "Отменить", "icon": "fa-ban",
                    "style": "default",
                    "confirm": "Отменить сообщение? Оно не будет отправлено."})
    return out


class OutboxView(ManagedActionsMixin, CrmModelView):
    unknown_action_message = "Нет такого действия или сообщения"
    datamodel = SQLAInterface(OutboxMessage)
    resource = RESOURCE
    titles = ("Исходящие сообщения", "Исходящее сообщение", "", "")
    # Only what is listed here: add, edit, delete and download map to no right at all.
    method_permission_name = {"list": "read", "show": "read", "export": "read",
                              "retry": MANAGE, "cancel": MANAGE}
    base_permissions = ["can_read", f"can_{MANAGE}"]
    show_template = "crm/outbox_show.html"
    label_columns = OUTBOX_LABELS
    list_columns = ["id", "kind", "status", "recipients_text", "subject", "record_ref",
                    "created_at", "sent_at", "attempts", "last_error"]
    show_fieldsets = [
        ("Сообщение", {"fields": ["kind", "status", "recipients_text", "subject", "body",
                                  "attachments_text", "record_ref"]}),
        ("Доставка", {"fields": ["created_at", "sent_at", "attempts", "last_error",
                                 "next_attempt_at", "enqueued_at", "delivered_via"]}),
        ("Служебное", {"fields": ["rule_key"], "expanded": False}),
    ]
    search_columns = ["kind", "status", "entity", "record_id", "subject", "created_at"]
    search_form_extra_fields = {
        "kind": SelectField("Вид", choices=list(OUTBOX_KIND_LABELS.items())),
        "status": SelectField("Статус", choices=list(OUTBOX_STATUS_LABELS.items())),
        "entity": SelectField("Тип записи", choices=_entity_choices, validate_choice=False),
    }
    order_columns = ["id", "kind", "status", "created_at", "sent_at", "attempts"]
    base_order = ("created_at", "desc")
    page_size = 50
    formatters_columns = {
        "kind": _label(OUTBOX_KIND_LABELS), "status": _label(OUTBOX_STATUS_LABELS),
        "delivered_via": _label(DELIVERED_VIA_LABELS), "record_ref": format_record_link,
        "body": _text_block,
    }

    # --- actions ------------------------------------------------------------------------
    @action("retry", "Повторить отправку", "Отправить выбранные сообщения ещё раз?",
            "fa-repeat", single=False)
    def retry(self, items):
        # last_error stays: it says why the last try failed until the next try says more.
        return self._change(items, RETRYABLE, {
            "status": OutboxStatus.pending.value, "attempts": 0, "next_attempt_at": None,
            "enqueued_at": None},
            done="Поставлено на повторную отправку",
            refused="повторить можно только сообщение со статусом " + _statuses(RETRYABLE),
            note=_smtp_note)

    @action("cancel", "Отменить", "Отменить выбранные сообщения? Они не будут отправлены.",
            "fa-ban", single=False)
    def cancel(self, items):
        return self._change(items, CANCELLABLE, {
            "status": OutboxStatus.cancelled.value, "next_attempt_at": None,
            "enqueued_at": None},
            done="Отменено",
            refused="отменить можно только сообщение со статусом " + _statuses(CANCELLABLE))

    def _change(self, items, allowed, values: dict, done: str, refused: str, note=None):
        single = not isinstance(items, list)
        # A row id posted twice is one row: the second pass would refuse it as done.
        items = list({i.id: i for i in ([items] if single else items) if i is not None}
                     .values())
        if not items:
            flash("Сообщение не найдено" if single else "Выберите сообщения", "warning")
            return redirect(url_for(f"{self.endpoint}.list"))
        changed, refusals = [], []
        for item in items:
            # One conditional UPDATE per row: a worker may change the status between the
            # page and the click; then the row is refused, not overwritten.
            result = db.session.execute(
                update(OutboxMessage).where(OutboxMessage.id == item.id,
                                            OutboxMessage.status.in_(allowed))
                .values(**values).execution_options(synchronize_session=False))
            if result.rowcount:
                changed.append(item.id)
            else:
                db.session.refresh(item)
                status = OUTBOX_STATUS_LABELS.get(item.status, item.status)
                refusals.append(f"Сообщение № {item.id} («{status}»): {refused}")
        db.session.commit()
        if changed:
            flash(f"{done}: " + ", ".join(f"№ {i}" for i in changed), "success")
            extra = note([i for i in items if i.id in changed]) if note else None
            if extra:
                flash(extra, "warning")
        for text in refusals:
            flash(text, "danger")
        if single:
            return redirect(url_for(f"{self.endpoint}.show", pk=items[0].id))
        return redirect(url_for(f"{self.endpoint}.list"))




def register_views(appbuilder):
    register(appbuilder, OutboxView, "Исходящие сообщения", "Администрирование",
             icon="fa-envelope-o", category_icon="fa-cogs")
    current_app.jinja_env.globals["crm_outbox_actions"] = outbox_actions
