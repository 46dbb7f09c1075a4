"""In-app notifications: the bell in the top bar, the list «Уведомления», marking read, and
each person's choice of an e-mail copy.

Rows are written by the job workers (app/notify.py); here they are only shown and marked.
Every lookup is by id AND the signed-in user, so another person's notification is simply
not found, whoever asks (the admin included): there is no "all notifications" screen."""
from __future__ import annotations

from flask import abort, current_app, flash, jsonify, redirect, request, url_for
from flask_appbuilder import BaseView, expose
from flask_appbuilder.security.decorators import has_access
from sqlalchemy import func, select, update

from app.extensions import db
from models.base import current_actor_id, utcnow
from models.notification import Notification
from models.registry import get_record
from models.user import CrmUser
from views.csrf import check_csrf, csrf_token
from views.approval import awaiting_me
from views.task import record_url

# The FAB resource of these screens; app/access.yaml gives its right to every role (common).
RESOURCE = "notification"
PAGE_SIZE = 50
KIND_LABELS = {
    "reminder": "Напоминание", "overdue": "Просрочено", "escalation": "Эскалация",
    "process": "Процесс", "task": "Задача", "approval": "Согласование",
}


def _mine():
    return Notification.user_id == current_actor_id()


def unread_count(user_id: int) -> int:
    return db.session.scalar(
        select(func.count(Notification.id)).where(Notification.user_id == user_id,
                                                  Notification.read_at.is_(None))) or 0


def bell_count() -> int:
    """The navbar's badge. Called once per rendered page, so one COUNT and no caching: `g`
    outlives a request when an app context is already pushed (tests, CLI), and a cached
    number would survive the very click that marks everything read."""
    me = current_actor_id()
    return 0 if me is None else unread_count(me)


def _own_or_404(pk: int) -> Notification:
    # Someone else's id answers exactly like a missing one: ids are not to be probed.
    item = db.session.scalar(select(Notification).where(Notification.id == pk, _mine()))
    if item is None:
        abort(404)
    return item


def _page_arg(source) -> int:
    # Anything but a positive number (a typo, "abc", -3) is the first page, not an error.
    page = source.get("page", type=int)
    return page if page and page > 0 else 1


def _back_to_list():
    page = _page_arg(request.form)
    return redirect(url_for("NotificationView.list", page=page) if page > 1
                    else url_for("NotificationView.list"))


class NotificationView(BaseView):
    route_base = "/notifications"
    default_view = "list"
    class_permission_name = RESOURCE
    # One right for all of it: each action touches only the user's own rows.
    method_permission_name = {"list": "read", "read": "read", "read_all": "read",
                              "open": "read", "settings": "read"}
    base_permissions = ["can_read"]

    @expose("/")
    @has_access
    def list(self):
        total = db.session.scalar(select(func.count(Notification.id)).where(_mine())) or 0
        pages = max(1, -(-total // PAGE_SIZE))
        page = min(_page_arg(request.args), pages)
        items = db.session.scalars(
            select(Notification).where(_mine())
            .order_by(Notification.created_at.desc(), Notification.id.desc())
            .limit(PAGE_SIZE).offset((page - 1) * PAGE_SIZE)).all()
        decidable = awaiting_me([n.record_id for n in items if n.entity == "approval"],
                                current_actor_id())
        rows = [{"item": n, "kind": KIND_LABELS.get(n.kind, n.kind),
                 "url": record_url(n.entity, n.record_id) if n.entity and n.record_id
                 else None,
                 "approve": n.record_id if n.entity == "approval"
                 and n.record_id in decidable else None} for n in items]
        me = db.session.get(CrmUser, current_actor_id())
        return self.render_template(
            "crm/notifications.html", title="Уведомления", rows=rows, total=total,
            unread=unread_count(current_actor_id()), page=page, pages=pages,
            notify_email=bool(me and me.notify_email), has_email=bool(me and me.email),
            csrf=csrf_token())

    @expose("/<int:pk>/read", methods=["POST"])
    @has_access
    def read(self, pk: int):
        check_csrf()
        item = _own_or_404(pk)
        if item.read_at is None:
            item.read_at = utcnow()
            db.session.commit()
        flash("Уведомление отмечено прочитанным", "success")
        return _back_to_list()

    @expose("/read_all", methods=["POST"])
    @has_access
    def read_all(self):
        check_csrf()
        result = db.session.execute(
            update(Notification).where(_mine(), Notification.read_at.is_(None))
            .values(read_at=utcnow()).execution_options(synchronize_session=False))
        db.session.commit()
        if result.rowcount:
            flash(f"Отмечено прочитанными: {result.rowcount}", "success")
        else:
            flash("Непрочитанных уведомлений нет", "info")
        return _back_to_list()

    @expose("/<int:pk>/open", methods=["POST"])
    @has_access
    def open(self, pk: int):
        """The record the notification is about; following the link is reading it."""
        check_csrf()
        item = _own_or_404(pk)
        if item.read_at is None:
            item.read_at = utcnow()
            db.session.commit()
        url = None
        if item.entity and item.record_id and get_record(item.entity, item.record_id):
            url = record_url(item.entity, item.record_id)
        if url is None:
            flash("Запись, о которой это уведомление, удалена или не открывается в системе",
                  "warning")
            return _back_to_list()
        return redirect(url)

    @expose("/settings", methods=["POST"])
    @has_access
    def settings(self):
        """The user's own «Дублировать уведомления на e-mail»; the admin sets anyone's on
        the users screen."""
        check_csrf()
        me = db.session.get(CrmUser, current_actor_id())
        if me is None:
            abort(404)
        me.notify_email = request.form.get("notify_email") in ("y", "on", "1", "true")
        db.session.commit()
        if me.notify_email and not me.email:
            flash("Настройка сохранена, но в профиле не указан e-mail: письма не придут",
                  "warning")
        else:
            flash("Настройки уведомлений сохранены", "success")
        return _back_to_list()

    @expose("/unread")
    def unread(self):
        """{"unread": N} for the bell's polling. JSON answers, not the login redirect a page
        gets: a script cannot follow a redirect to a form."""
        me = current_actor_id()
        if me is None:
            return jsonify(message="Войдите в систему, чтобы продолжить."), 401
        if not current_app.appbuilder.sm.has_access("can_read", RESOURCE):
            return jsonify(message="Доступ запрещён"), 403
        return jsonify(unread=unread_count(me))


def register_views(appbuilder):
    appbuilder.add_view_no_menu(NotificationView)
    current_app.jinja_env.globals["crm_unread_notifications"] = bell_count
