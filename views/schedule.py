"""Администрирование → «Расписание», «Ошибки заданий», «Очереди и обработчики»: what the
jobs will do, what they failed to do, and whether the queues and workers are alive.

The schedule list is read-only (its rows are written by the rules engine and the jobs);
an admin may only cancel a row or send it round again. Both are conditional UPDATEs, so a
scheduler tick running at the same moment cannot be overwritten with a stale status."""
from __future__ import annotations

import datetime as dt
import json
from urllib.parse import urlsplit

from flask import abort, current_app, flash, redirect, request, url_for
from flask_appbuilder import BaseView, expose
from flask_appbuilder.models.filters import BaseFilter
from flask_appbuilder.models.sqla.filters import FilterEqual, FilterNotEqual
from flask_appbuilder.models.sqla.interface import SQLAInterface
from flask_appbuilder.security.decorators import has_access
from flask_appbuilder.widgets import ListWidget
from sqlalchemy import func, select, update
from wtforms import SelectField

from app.extensions import db
from app.formatting import format_datetime, to_utc
from app.forms import DATE_INPUT_FORMATS, DATETIME_INPUT_FORMATS, LocalDateTimeField
from jobs.stats import queue_stats
from models.base import utcnow
from models.labels import SCHEDULE_LABELS
from models.outbox import OUTBOX_KIND_LABELS, OUTBOX_STATUS_LABELS, OutboxMessage
from models.registry import entities
from models.schedule import (ACTION_LABELS, SCHEDULE_STATUS_LABELS, ScheduledAction,
                             ScheduleStatus)
from views.base import CrmModelView, register
from views.csrf import check_csrf, csrf_token
from views.task import format_record_link, record_text

CANCELLABLE = (ScheduleStatus.pending.value, ScheduleStatus.enqueued.value,
               ScheduleStatus.failed.value)
RETRYABLE = (ScheduleStatus.failed.value, ScheduleStatus.cancelled.value)
OUTBOX_RETRYABLE = ("failed", "cancelled")
FAILED_PAGE_LIMIT = 200
ERROR_BRIEF_LENGTH = 150

WORKER_STATE_LABELS = {
    "starting": "Запускается", "started": "Запущен", "idle": "Ожидает заданий",
    "busy": "Выполняет задание", "suspended": "Приостановлен", "dead": "Остановлен",
}
BAD_DATE = ("Фильтр «Срок выполнения»: неверная дата и время «{value}», ожидается "
            "ДД.ММ.ГГГГ ЧЧ:ММ. Фильтр не применён.")


# --- read-side helpers of the screens ---------------------------------------------------

def action_label(value) -> str:
    return ACTION_LABELS.get(value, value or "")


def schedule_status_label(value) -> str:
    return SCHEDULE_STATUS_LABELS.get(value, value or "")


def _record_ref(self):
    return (self.entity, self.record_id) if self.entity and self.record_id is not None \
        else None


def _error_brief(self) -> str:
    text = " ".join((self.last_error or "").split())
    return text if len(text) <= ERROR_BRIEF_LENGTH else text[:ERROR_BRIEF_LENGTH - 1] + "…"


# Pseudo-columns of the list and record page; models/schedule.py stays the jobs' model.
for _name, _func in (("schedule_record_ref", _record_ref), ("error_brief", _error_brief)):
    if not hasattr(ScheduledAction, _name):
        setattr(ScheduledAction, _name, property(_func))


def _format_params(value) -> str:
    if not value:
        return ""
    return json.dumps(value, ensure_ascii=False, default=str)


def duration_words(seconds) -> str:
    """4000 -> "1 ч 6 мин": how late a row is, read at a glance."""
    if seconds is None:
        return ""
    seconds = int(seconds)
    if seconds < 60:
        return f"{seconds} с"
    hours, minutes = divmod(seconds // 60, 60)
    days, hours = divmod(hours, 24)
    parts = [f"{days} дн" if days else "", f"{hours} ч" if hours else "",
             f"{minutes} мин" if minutes and not days else ""]
    return " ".join(p for p in parts if p) or "0 мин"


def _safe_next(default: str) -> str:
    """Back to the page the button was on, but only within this site."""
    target = request.form.get("next") or ""
    parts = urlsplit(target)
    if target.startswith("/") and not target.startswith("//") and "\\" not in target \
            and not parts.scheme and not parts.netloc:
        return target
    return default


def _may_write(resource: str) -> bool:
    return current_app.appbuilder.sm.has_access("can_write", resource)


# --- the two changes an admin may make ----------------------------------------------------

def cancel_scheduled(pk: int) -> tuple[bool, str]:
    """(done, Russian message). Only a row that has not run yet or failed can be cancelled."""
    result = db.session.execute(
        update(ScheduledAction)
        .where(ScheduledAction.id == pk, ScheduledAction.status.in_(CANCELLABLE))
        .values(status=ScheduleStatus.cancelled.value)
        .execution_options(synchronize_session=False))
    if result.rowcount:
        db.session.commit()
        return True, f"Действие № {pk} отменено"
    db.session.rollback()
    return False, _refusal(pk, "Отменить", CANCELLABLE)


def retry_scheduled(pk: int) -> tuple[bool, str]:
    """A failed or cancelled row becomes pending with a clean attempt count; a due time
    already past means the scheduler's next tick picks it up."""
    result = db.session.execute(
        update(ScheduledAction)
        .where(ScheduledAction.id == pk, ScheduledAction.status.in_(RETRYABLE))
        .values(status=ScheduleStatus.pending.value, attempts=0, next_attempt_at=None,
                enqueued_at=None, done_at=None)
        .execution_options(synchronize_session=False))
    if not result.rowcount:
        db.session.rollback()
        return False, _refusal(pk, "Повторить", RETRYABLE)
    db.session.commit()
    due_at = db.session.scalar(select(ScheduledAction.due_at).where(ScheduledAction.id == pk))
    if due_at is not None and due_at > utcnow():
        return True, (f"Действие № {pk} снова ожидает срока: {format_datetime(due_at)}")
    return True, f"Действие № {pk} будет выполнено при следующем проходе планировщика"


def retry_outbox(pk: int) -> tuple[bool, str]:
    result = db.session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id == pk, OutboxMessage.status.in_(OUTBOX_RETRYABLE))
        .values(status="pending", attempts=0, next_attempt_at=None, enqueued_at=None)
        .execution_options(synchronize_session=False))
    if result.rowcount:
        db.session.commit()
        return True, f"Сообщение № {pk} будет отправлено повторно"
    db.session.rollback()
    status = db.session.scalar(select(OutboxMessage.status).where(OutboxMessage.id == pk))
    if status is None:
        return False, f"Исходящее сообщение № {pk} не найдено"
    allowed = ", ".join(f"«{OUTBOX_STATUS_LABELS[s]}»" for s in OUTBOX_RETRYABLE)
    return False, (f"Повторить можно только сообщение в статусе {allowed}; у сообщения "
                   f"№ {pk} статус «{OUTBOX_STATUS_LABELS.get(status, status)}»")


def _refusal(pk: int, verb: str, allowed: tuple[str, ...]) -> str:
    status = db.session.scalar(select(ScheduledAction.status).where(ScheduledAction.id == pk))
    if status is None:
        return f"Запланированное действие № {pk} не найдено"
    words = ", ".join(f"«{SCHEDULE_STATUS_LABELS[s]}»" for s in allowed)
    return (f"{verb} можно только действие в статусе {words}; у действия № {pk} статус "
            f"«{schedule_status_label(status)}»")


def schedule_buttons(pk: int, status: str) -> list[dict]:
    """The buttons a row in this status offers: [{label, url, style}]."""
    out = []
    if status in RETRYABLE:
        out.append({"label": "Повторить", "style": "btn-primary",
                    "url": url_for("ScheduleActionView.retry", pk=pk)})
    if status in CANCELLABLE:
        out.append({"label": "Отменить", "style": "btn-default",
                    "confirm": "Отменить это действие? Оно не будет выполнено.",
                    "url": url_for("ScheduleActionView.cancel", pk=pk)})
    return out


# --- «Расписание» ---------------------------------------------------------------------------

def _parse_local(value: str, formats) -> dt.datetime | None:
    for fmt in formats:
        try:
            return dt.datetime.strptime(value, fmt)
        except ValueError:
            continue
    return None


class _LocalTimeFilter(BaseFilter):
    """A bound of a naive-UTC column typed in local time (FAB's own would compare the typed
    wall-clock time with UTC). A date alone covers that whole day."""

    upper = False

    def apply(self, query, value):
        raw = (value or "").strip()
        if not raw:
            return query
        moment = _parse_local(raw, DATETIME_INPUT_FORMATS)
        whole_day = False
        if moment is None:
            moment = _parse_local(raw, DATE_INPUT_FORMATS)
            whole_day = moment is not None
        if moment is None:
            flash(BAD_DATE.format(value=raw[:40]), "warning")
            return query
        field = getattr(self.model, self.column_name)
        if self.upper:
            if whole_day:
                return query.filter(field < to_utc(moment + dt.timedelta(days=1)))
            return query.filter(field <= to_utc(moment))
        return query.filter(field >= to_utc(moment))


class LocalFromFilter(_LocalTimeFilter):
    name = "Не раньше"
    arg_name = "crm_from"


class LocalToFilter(_LocalTimeFilter):
    name = "Не позже"
    arg_name = "crm_to"
    upper = True


# The records schedule rows hang on: the process records and tasks.
SCHEDULED_ENTITIES = ("deal", "lead", "event", "order", "task", "acknowledgement")


def _entity_choices():
    known = entities()
    pairs = [(key, getattr(known[key], "__label__", "") or key)
             for key in SCHEDULED_ENTITIES if key in known]
    return sorted(pairs, key=lambda pair: pair[1])


class ScheduleListWidget(ListWidget):
    """FAB's list with a last column of «Повторить» / «Отменить» buttons."""

    template = "crm/schedule_list_widget.html"


class ScheduleView(CrmModelView):
    datamodel = SQLAInterface(ScheduledAction)
    resource = "schedule"
    titles = ("Расписание", "Запланированное действие", "", "")
    # Reading only: the rows are the jobs' own; cancel and retry live in ScheduleActionView.
    base_permissions = ["can_read"]
    show_template = "crm/schedule_show.html"
    list_widget = ScheduleListWidget
    label_columns = SCHEDULE_LABELS
    list_columns = ["id", "action", "status", "schedule_record_ref", "due_at", "attempts",
                    "error_brief"]
    show_fieldsets = [
        ("Действие", {"fields": ["id", "action", "status", "schedule_record_ref", "due_at",
                                 "attempts", "last_error", "next_attempt_at", "enqueued_at",
                                 "done_at"]}),
        ("Служебное", {"fields": ["occurrence", "params", "stage_key", "outlives_stage",
                                  "rule_key", "transition_id", "effect_key", "created_at"],
                       "expanded": False}),
    ]
    search_columns = ["status", "action", "entity", "record_id", "due_at"]
    search_form_extra_fields = {
        "status": SelectField("Статус", choices=list(SCHEDULE_STATUS_LABELS.items())),
        "action": SelectField("Действие", choices=list(ACTION_LABELS.items())),
        "entity": SelectField("Тип записи", choices=_entity_choices),
        "due_at": LocalDateTimeField("Срок выполнения"),
    }
    order_columns = ["id", "action", "status", "due_at", "attempts"]
    base_order = ("due_at", "desc")
    page_size = 50
    formatters_columns = {
        "action": action_label, "status": schedule_status_label,
        "schedule_record_ref": format_record_link, "params": _format_params,
    }

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        # No comments or files under a schedule row: crm/show.html's panel keys on this.
        self.extra_args["crm_entity"] = ""
        for column, classes in (("status", (FilterEqual, FilterNotEqual)),
                                ("action", (FilterEqual, FilterNotEqual)),
                                ("entity", (FilterEqual, FilterNotEqual)),
                                ("due_at", (LocalFromFilter, LocalToFilter))):
            found = [cls(column, self.datamodel) for cls in classes]
            self._filters._search_filters[column] = found
            self._filters._all_filters[column] = found

    def _export_value(self, item, column):
        if column == "schedule_record_ref":
            return record_text(item.schedule_record_ref)
        return super()._export_value(item, column)

    def _get_list_widget(self, filters, *args, **kwargs):
        widgets = super()._get_list_widget(filters, *args, **kwargs)
        widget = widgets["list"]
        buttons = {}
        pks = list(widget.template_args.get("pks") or [])
        if pks and _may_write(self.resource):
            rows = db.session.execute(select(ScheduledAction.id, ScheduledAction.status)
                                      .where(ScheduledAction.id.in_(pks))).all()
            buttons = {pk: schedule_buttons(pk, status) for pk, status in rows}
        widget.template_args.update(row_buttons=buttons, csrf=csrf_token(),
                                    back=request.full_path)
        return widgets

    def _get_show_widget(self, pk, item, widgets=None, actions=None, show_fieldsets=None):
        widgets = super()._get_show_widget(pk, item, widgets=widgets, actions=actions,
                                           show_fieldsets=show_fieldsets)
        widgets["schedule_buttons"] = schedule_buttons(item.id, item.status) \
            if _may_write(self.resource) else []
        widgets["csrf"] = csrf_token()
        widgets["back"] = url_for(f"{self.endpoint}.show", pk=item.id)
        return widgets


class ScheduleActionView(BaseView):
    """«Отменить» and «Повторить» of the schedule list and record page (write right)."""

    route_base = "/crm/schedule"
    resource = "schedule"
    class_permission_name = "schedule"
    method_permission_name = {"cancel": "write", "retry": "write"}
    base_permissions = ["can_write"]
    default_view = "cancel"

    @expose("/<int:pk>/cancel", methods=["POST"])
    @has_access
    def cancel(self, pk):
        check_csrf()
        return self._done(*cancel_scheduled(pk))

    @expose("/<int:pk>/retry", methods=["POST"])
    @has_access
    def retry(self, pk):
        check_csrf()
        return self._done(*retry_scheduled(pk))

    @staticmethod
    def _done(ok: bool, message: str):
        flash(message, "success" if ok else "danger")
        return redirect(_safe_next(url_for("ScheduleView.list")))


# --- «Ошибки заданий» -----------------------------------------------------------------------

class FailedJobsView(BaseView):
    """Failed schedule rows and failed outbox messages, each with its error and «Повторить»."""

    route_base = "/crm/jobs/failed"
    resource = "jobs"
    class_permission_name = "jobs"
    method_permission_name = {"list": "read", "retry": "write"}
    base_permissions = ["can_read", "can_write"]
    default_view = "list"

    @expose("/")
    @has_access
    def list(self):
        failed = ScheduleStatus.failed.value
        schedule_total = db.session.scalar(
            select(func.count()).where(ScheduledAction.status == failed)) or 0
        schedule_rows = db.session.scalars(
            select(ScheduledAction).where(ScheduledAction.status == failed)
            .order_by(ScheduledAction.id.desc()).limit(FAILED_PAGE_LIMIT)).all()
        outbox_total = db.session.scalar(
            select(func.count()).where(OutboxMessage.status == "failed")) or 0
        outbox_rows = db.session.scalars(
            select(OutboxMessage).where(OutboxMessage.status == "failed")
            .order_by(OutboxMessage.id.desc()).limit(FAILED_PAGE_LIMIT)).all()

        def link(entity, record_id):
            return format_record_link((entity, record_id)) if entity and record_id else ""

        schedule = [{
            "id": r.id, "what": action_label(r.action), "record": link(r.entity, r.record_id),
            "when": r.due_at, "attempts": r.attempts, "error": r.last_error or "",
            "show_url": url_for("ScheduleView.show", pk=r.id),
            "retry_url": url_for("FailedJobsView.retry", kind="schedule", pk=r.id),
        } for r in schedule_rows]
        outbox = [{
            "id": m.id, "what": OUTBOX_KIND_LABELS.get(m.kind, m.kind),
            "subject": m.subject or "", "record": link(m.entity, m.record_id),
            "when": m.created_at, "attempts": m.attempts, "error": m.last_error or "",
            "retry_url": url_for("FailedJobsView.retry", kind="outbox", pk=m.id),
        } for m in outbox_rows]
        return self.render_template(
            "crm/jobs_failed.html", title="Ошибки заданий", schedule=schedule,
            outbox=outbox, schedule_total=schedule_total, outbox_total=outbox_total,
            limit=FAILED_PAGE_LIMIT, can_retry=_may_write(self.class_permission_name),
            csrf=csrf_token(), back=url_for("FailedJobsView.list"))

    @expose("/retry/<kind>/<int:pk>", methods=["POST"])
    @has_access
    def retry(self, kind, pk):
        check_csrf()
        if kind == "schedule":
            ok, message = retry_scheduled(pk)
        elif kind == "outbox":
            ok, message = retry_outbox(pk)
        else:
            abort(404)
        flash(message, "success" if ok else "danger")
        return redirect(_safe_next(url_for("FailedJobsView.list")))


# --- «Очереди и обработчики» ----------------------------------------------------------------

class QueuesView(BaseView):
    """Queue lengths and workers (with REDIS_URL), and the database side in both modes."""

    route_base = "/crm/jobs/queues"
    resource = "jobs"
    class_permission_name = "jobs"
    method_permission_name = {"show": "read"}
    base_permissions = ["can_read"]
    default_view = "show"

    @expose("/")
    @has_access
    def show(self):
        stats = queue_stats(current_app._get_current_object())
        for worker in stats["workers"]:
            worker["state_label"] = WORKER_STATE_LABELS.get(worker["state"], worker["state"])
        return self.render_template(
            "crm/jobs_queues.html", title="Очереди и обработчики", stats=stats,
            late_words=duration_words(stats["schedule"]["oldest_late_seconds"]),
            duration_words=duration_words)


def register_views(appbuilder):
    register(appbuilder, ScheduleView, "Расписание", "Администрирование",
             icon="fa-clock-o", category_icon="fa-cogs")
    register(appbuilder, FailedJobsView, "Ошибки заданий", "Администрирование",
             icon="fa-exclamation-triangle", category_icon="fa-cogs")
    register(appbuilder, QueuesView, "Очереди и обработчики", "Администрирование",
             icon="fa-tasks", category_icon="fa-cogs")
    appbuilder.add_view_no_menu(ScheduleActionView)
