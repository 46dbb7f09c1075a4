"""The audit log screen: who changed which record, when, and which fields from what to what.
Read-only: no role may add, edit or delete a journal row, the admin included."""
from __future__ import annotations

import json

from flask import current_app, g, url_for
from flask_appbuilder.models.sqla.interface import SQLAInterface
from markupsafe import Markup, escape

from app.extensions import db
from models.audit import AuditLog
from models.registry import entity_label
from models.timeline import changes_in_words, technical_details
from models.trash import PURGE, RESTORE, TRASH, trash_words
from views.base import CrmModelView, register
from views.timeline import view_for_entity

AUDIT_LABELS = {
    "at": "Когда", "user": "Пользователь", "action": "Действие", "action_label": "Действие",
    "entity": "Тип записи", "entity_label": "Тип записи", "record_id": "№ записи",
    "record_link": "Запись", "record_repr": "Запись", "changes": "Изменения",
    "changes_words": "Изменения",
}


def _changes_words(self) -> str:
    if self.action in (TRASH, RESTORE, PURGE):
        return trash_words(self.changes)
    return changes_in_words(self.entity, self.action, self.changes, record_id=self.record_id)


def _entity_label(self) -> str:
    return entity_label(self.entity)


def _record_link(self):
    """The record's page when it still exists and has a screen; its name otherwise."""
    name = self.record_repr or f"№{self.record_id}"
    if self.action not in ("delete", PURGE):
        view = view_for_entity(self.entity)
        if view is not None:
            url = url_for(f"{view.endpoint}.show", pk=self.record_id)
            return Markup(f'<a href="{escape(url)}">{escape(name)}</a>')
    return name


# Read-side helpers for the screen; models/audit.py stays the writer's model. Set only where
# the model does not define them itself.
for _name, _func in (("changes_words", _changes_words), ("entity_label", _entity_label),
                     ("record_link", _record_link)):
    if not hasattr(AuditLog, _name):
        setattr(AuditLog, _name, property(_func))


def _is_admin() -> bool:
    user = getattr(g, "user", None)
    admin = current_app.config.get("AUTH_ROLE_ADMIN", "Admin")
    return any(role.name == admin for role in getattr(user, "roles", None) or [])


def audit_technical(pk) -> dict | None:
    """The «Технические сведения» block of an audit record: the process engine's keys and
    the row as stored. Only the admin gets it (None for anyone else)."""
    if not _is_admin():
        return None
    row = db.session.get(AuditLog, pk)
    if row is None:
        return None
    return {"keys": technical_details(row.changes),
            "raw": json.dumps(row.changes, ensure_ascii=False, indent=1, sort_keys=True,
                              default=str)}


class AuditLogView(CrmModelView):
    datamodel = SQLAInterface(AuditLog)
    resource = "audit"
    titles = ("Журнал изменений", "Запись журнала изменений", "", "")
    # Only reading: add, edit, delete and actions map to rights this screen never offers.
    base_permissions = ["can_read"]
    show_template = "crm/audit_show.html"
    label_columns = AUDIT_LABELS
    list_columns = ["at", "user", "action_label", "entity_label", "record_id", "record_link",
                    "changes_words"]
    show_columns = ["at", "user", "action_label", "entity_label", "record_id", "record_link",
                    "changes_words"]
    search_columns = ["entity", "record_id", "user", "at", "action"]
    order_columns = ["at", "entity", "record_id"]
    base_order = ("at", "desc")
    page_size = 50
    # A change nobody made by hand (a rule, a scheduled job, the seed) was made by the system.
    formatters_columns = {"user": lambda user: str(user) if user is not None else "Система"}


def register_views(appbuilder):
    register(appbuilder, AuditLogView, "Журнал изменений", "Администрирование",
             icon="fa-history", category_icon="fa-cogs")
    current_app.jinja_env.globals["crm_audit_technical"] = audit_technical
