"""Администрирование → «Корзина»: the records people deleted, with what went with them,
who deleted them, when, and when the daily purge takes them. The admin restores a record
(the whole batch back, same ids) or deletes it for good; both leave a row in «Журнал
изменений». Only the admin: the resource `trash` is granted to no other role."""
from __future__ import annotations

from flask import flash, redirect, url_for
from flask_appbuilder import expose
from flask_appbuilder.actions import action
from flask_appbuilder.models.sqla.interface import SQLAInterface
from flask_appbuilder.security.decorators import has_access
from wtforms import SelectField

from app.extensions import db
from app.formatting import format_datetime
from errors import CrmError
from models.base import current_actor_id
from models.registry import entities
from models.trash import TrashBatch, retention_days
from process.trash import is_trashable
from process.trash import purge as purge_batch
from process.trash import restore as restore_batch
from views.base import CrmModelView, ManagedActionsMixin, register

RESOURCE = "trash"
# Restore and purge need more than reading. Not "can_write": that right opens add and edit
# forms on a generated screen, and nobody adds rows to the bin by hand.
MANAGE = "manage"
TRASH_LABELS = {
    "kind_label": "Что удалено", "entity": "Что удалено", "title": "Запись",
    "summary": "Вместе с ней", "deleted_by": "Кто удалил", "deleted_at": "Когда удалено",
    "purge_at": "Удалится навсегда", "record_id": "№ записи",
}
PURGE_CONFIRM = ("Удалить навсегда вместе с задачами, файлами и историей? Восстановить "
                 "будет нельзя.")


def _kind_choices():
    """The kinds of records that go to the bin, by their Russian names."""
    out = [(key, getattr(model, "__label__", "") or key)
           for key, model in entities().items() if is_trashable(model) and key != "attachment"]
    return [("", "—")] + sorted(out, key=lambda pair: pair[1])


class TrashView(ManagedActionsMixin, CrmModelView):
    unknown_action_message = "Нет такого действия или записи в корзине"
    datamodel = SQLAInterface(TrashBatch)
    resource = RESOURCE
    titles = ("Корзина", "Запись в корзине", "", "")
    method_permission_name = {"list": "read", "show": "read", "picker": "read",
                              "restore": MANAGE, "purge": MANAGE, "confirm_purge": MANAGE}
    base_permissions = ["can_read", f"can_{MANAGE}"]
    show_template = "crm/trash_show.html"
    label_columns = TRASH_LABELS
    list_columns = ["kind_label", "title", "summary", "deleted_by", "deleted_at", "purge_at"]
    show_columns = ["kind_label", "title", "record_id", "summary", "deleted_by", "deleted_at",
                    "purge_at"]
    search_columns = ["entity", "title", "deleted_by", "deleted_at"]
    search_form_extra_fields = {
        "entity": SelectField("Что удалено", choices=_kind_choices, validate_choice=False),
    }
    order_columns = ["title", "deleted_at"]
    base_order = ("deleted_at", "desc")
    page_size = 50
    formatters_columns = {"purge_at": format_datetime,
                          "deleted_by": lambda user: str(user) if user else "Система"}

    # --- actions ------------------------------------------------------------------------
    @action("restore", "Восстановить",
            "Восстановить выбранные записи вместе с их задачами и файлами?", "fa-undo",
            single=False)
    def restore(self, items):
        return self._each(items, restore_batch, "Восстановлено")

    @action("purge", "Удалить навсегда", PURGE_CONFIRM, "fa-trash", single=False)
    def purge(self, items):
        return self._each(items, purge_batch, "Удалено навсегда")

    def _each(self, items, step, done: str):
        """Each batch in its own transaction: one refusal does not hold back the others."""
        single = not isinstance(items, list)
        batches = {i.id: str(i) for i in ([items] if single else items) if i is not None}
        if not batches:
            flash("Запись не найдена в корзине" if single else "Выберите записи", "warning")
            return redirect(url_for(f"{self.endpoint}.list"))
        user_id = current_actor_id()
        for batch_id, name in batches.items():
            try:
                step(batch_id, user_id)
                db.session.commit()
            except CrmError as exc:
                db.session.rollback()
                flash(exc.message, "danger")
            else:
                flash(f"{done}: {name}", "success")
        return redirect(url_for(f"{self.endpoint}.list"))


    @expose("/confirm_purge/<int:pk>", methods=["GET"])
    @has_access
    def confirm_purge(self, pk):
        """The question before a purge, as a page: no script needed to ask it."""
        batch = db.session.get(TrashBatch, pk)
        if batch is None:
            flash("Запись не найдена в корзине", "warning")
            return redirect(url_for(f"{self.endpoint}.list"))
        return self.render_template("crm/trash_purge.html", batch=batch,
                                    question=PURGE_CONFIRM, days=retention_days())



def register_views(appbuilder):
    register(appbuilder, TrashView, "Корзина", "Администрирование", icon="fa-trash",
             category_icon="fa-cogs")
