"""Approvals on the screen and in the API: «Мои согласования» (the inbox, with its count in
the top bar), «Мои заявки» (what I started), the approval page (the record's summary, its
files, the history, the decision), the e-mail copy's single-use link, and
`/api/v1/approval/`. Every decision goes through `process.approvals.decide`, which alone
says who may decide."""
from __future__ import annotations

import datetime as dt

from flask import abort, current_app, flash, redirect, request, url_for
from flask_appbuilder import BaseView, expose
from flask_appbuilder.api import BaseApi
from flask_appbuilder.security.decorators import has_access, protect
from sqlalchemy import func, select
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.orm import joinedload

from app.approval_links import LinkRefused, read_token
from app.attachments import attachments_of
from app.extensions import db
from app.formatting import display, format_date, format_datetime, format_money
from app.scope import can_see
from errors import CrmError, FieldErrors
from models.approval import (APPROVAL_STATUS_LABELS, DECISION_LABELS, MODE_LABELS, Approval,
                             ApprovalStatus, ApprovalStep, Decision, StepStatus)
from models.base import acting_as, acting_user, current_actor_id, utcnow
from models.registry import entity_label, get_record
from models.user import CrmUser
from models.labels import labels_for
from process import approvals
from process.absence import balance, vacation_days
from views.csrf import check_csrf, csrf_token
from views.errors import refusing_database_errors
from views.task import record_url
from views.base import is_money, register
from views.pipeline import custom_lines
from views.timeline import live_attachment, send_attachment

# A page of the inbox reads each row's approval and requester in the same query: the
# statements do not grow with the page (bench/approvals.py).
_WITH_APPROVAL = joinedload(ApprovalStep.approval).joinedload(Approval.requester)
RESOURCE = "approval"  # app/access.yaml gives its right to every role (common)
PAGE_SIZE = 50
SUMMARY_FIELDS = ("budget", "amount", "total", "company", "responsible", "ship_date",
                  "date_from", "date_to")


# --- reading -----------------------------------------------------------------------------
def inbox_count(user_id: int | None) -> int:
    if user_id is None:
        return 0
    return db.session.scalar(select(func.count(ApprovalStep.id)).where(
        ApprovalStep.user_id == user_id,
        ApprovalStep.status == StepStatus.waiting.value)) or 0


def awaiting_me(approval_ids, user_id) -> set[int]:
    """Of `approval_ids`, those whose current step waits for `user_id` (one query): the
    notifications list offers «Согласовать» on them."""
    ids = [i for i in approval_ids if i]
    if not ids or user_id is None:
        return set()
    return set(db.session.scalars(select(ApprovalStep.approval_id).join(Approval).where(
        ApprovalStep.approval_id.in_(ids), ApprovalStep.user_id == user_id,
        ApprovalStep.status == StepStatus.waiting.value,
        ApprovalStep.round == Approval.round, ApprovalStep.step_index == Approval.step_index)))


def badge_count() -> int:
    return inbox_count(current_actor_id())


def may_view(approval: Approval | None, user) -> bool:
    """The requester, anyone the approval was ever addressed to, and whoever may read the
    record see the approval; nobody else learns it exists."""
    if approval is None or user is None or not getattr(user, "id", None):
        return False
    if approval.requester_id == user.id:
        return True
    if db.session.scalar(select(ApprovalStep.id).where(
            ApprovalStep.approval_id == approval.id, ApprovalStep.user_id == user.id)):
        return True
    record = get_record(approval.entity, approval.record_id)
    return record is not None and can_see(record, user)


def my_row(approval: Approval, user) -> ApprovalStep | None:
    """The user's row waiting in the approval's current step."""
    if user is None:
        return None
    return db.session.scalar(select(ApprovalStep).where(
        ApprovalStep.approval_id == approval.id, ApprovalStep.user_id == user.id,
        ApprovalStep.round == approval.round, ApprovalStep.step_index == approval.step_index,
        ApprovalStep.status == StepStatus.waiting.value))


def summary(approval: Approval) -> dict:
    """What the approver needs to decide without opening the record, in words: the record's
    main fields, its custom fields, what a leave costs, its files."""
    record = get_record(approval.entity, approval.record_id)
    out = {"entity": entity_label(approval.entity), "record": str(record) if record else "—",
           "url": None, "fields": [], "files": []}
    if record is None:
        return out
    if can_see(record, acting_user()):
        out["url"] = record_url(approval.entity, approval.record_id)
    labels = labels_for(approval.entity)
    for name in SUMMARY_FIELDS:
        value = getattr(record, name, None)
        if value in (None, "", []):
            continue
        out["fields"].append((labels.get(name, name), _shown(record, name, value)))
    out["fields"] += custom_lines(record, compact=True)
    out["fields"] += leave_lines(record)
    out["files"] = attachments_of(approval.entity, approval.record_id)
    return out


def _shown(record, name, value) -> str:
    column = sa_inspect(type(record)).columns.get(name)
    if column is not None and is_money(column):
        return format_money(value)
    if isinstance(value, dt.datetime):
        return format_datetime(value)
    if isinstance(value, dt.date):
        return format_date(value)
    return display(value)


def leave_lines(record) -> list[tuple[str, str]]:
    """A vacation request: the days it spends (Labour Code art. 120) and what is left."""
    custom = getattr(record, "custom", None) or {}
    date_from, date_to = getattr(record, "date_from", None), getattr(record, "date_to", None)
    if custom.get("leave_kind") != "vacation" or not date_from or not date_to \
            or not getattr(record, "responsible_id", None):
        return []
    left = balance(record.responsible_id, date_from.year)
    return [("Дней отпуска (без праздников)", str(vacation_days(date_from, date_to))),
            (f"Остаток отпуска на {date_from.year} год", str(left["remaining"]))]


def history(approval: Approval) -> list[dict]:
    rows = []
    for row in approval.steps:
        rows.append({"round": row.round, "step": row.step_name,
                     "mode": MODE_LABELS.get(row.mode, row.mode), "user": str(row.user),
                     "instead_of": str(row.original_user) if row.original_user else "",
                     "status": row.status_label, "decided_at": format_datetime(row.decided_at),
                     "comment": row.comment or "", "note": row.route_note or "",
                     "due_at": format_datetime(row.due_at) if row.due_at else ""})
    return rows


def as_json(approval: Approval, with_history: bool = False) -> dict:
    out = {"id": approval.id, "title": approval.title, "entity": approval.entity,
           "record_id": approval.record_id, "status": approval.status,
           "status_label": approval.status_label, "step": approval.current_step_name,
           "round": approval.round, "requester_id": approval.requester_id,
           "started_at": approval.started_at.isoformat() + "Z",
           "finished_at": approval.finished_at.isoformat() + "Z"
           if approval.finished_at else None}
    if with_history:
        out["history"] = [{"id": r.id, "round": r.round, "step": r.step_name,
                           "mode": r.mode, "user_id": r.user_id,
                           "instead_of_id": r.original_user_id, "status": r.status,
                           "decided_at": r.decided_at.isoformat() + "Z"
                           if r.decided_at else None,
                           "comment": r.comment, "note": r.route_note}
                          for r in approval.steps]
    return out


def visible_approval(pk):
    """(the approval, the user) when the user may see it; (None, user) answers as missing."""
    approval, user = db.session.get(Approval, pk), acting_user()
    return (approval if may_view(approval, user) else None), user


def row_to_decide(approval, user) -> ApprovalStep:
    """The user's waiting row of the current step, or the typed refusal saying why not."""
    row = my_row(approval, user)
    if row is None:
        raise approvals.NotYourApproval() if approval.status == \
            ApprovalStatus.pending.value else approvals.AlreadyDecided()
    return row


def _decision_form() -> tuple[str, str | None, int | None]:
    decision = (request.form.get("decision") or "").strip()
    comment = request.form.get("comment")
    raw = (request.form.get("delegate_to") or "").strip()
    delegate = int(raw) if raw.isascii() and raw.isdigit() and len(raw) < 10 else None
    return decision, comment, delegate


def _decide(row_id, user, decision, comment, delegate) -> approvals.Outcome:
    with refusing_database_errors():
        outcome = approvals.decide(row_id, user, decision, comment, delegate)
        db.session.commit()
    return outcome


# --- screens -----------------------------------------------------------------------------
class ApprovalView(BaseView):
    route_base = "/approvals"
    resource = RESOURCE
    record_model = Approval  # record_url(): a notification about an approval opens it here
    default_view = "inbox"
    class_permission_name = RESOURCE
    method_permission_name = {"inbox": "read", "mine": "read", "show": "read",
                              "decide": "read", "resubmit": "read", "file": "read"}
    base_permissions = ["can_read"]

    @expose("/")
    @has_access
    def inbox(self):
        me = current_actor_id()
        query = select(ApprovalStep).join(Approval).where(
            ApprovalStep.user_id == me, ApprovalStep.status == StepStatus.waiting.value)
        search = (request.args.get("q") or "").strip()[:100]
        if search:
            query = query.where(Approval.title.ilike(f"%{search}%"))
        entity = request.args.get("entity") or ""
        if entity:
            query = query.where(Approval.entity == entity)
        if request.args.get("overdue") == "1":
            query = query.where(ApprovalStep.due_at < utcnow())
        total = db.session.scalar(select(func.count()).select_from(query.subquery())) or 0
        page = max(1, request.args.get("page", 1, type=int) or 1)
        rows = db.session.scalars(query.options(_WITH_APPROVAL).order_by(
            ApprovalStep.id.desc()).limit(PAGE_SIZE).offset((page - 1) * PAGE_SIZE)).all()
        return self.render_template(
            "crm/approval_list.html", title="Мои согласования", mine=False, rows=rows,
            total=total, page=page, pages=max(1, -(-total // PAGE_SIZE)), search=search,
            entity=entity, overdue=request.args.get("overdue") == "1",
            entities=_entity_choices(), now=utcnow(), labels=APPROVAL_STATUS_LABELS)

    @expose("/mine")
    @has_access
    def mine(self):
        me = current_actor_id()
        query = select(Approval).where(Approval.requester_id == me)
        status = request.args.get("status") or ""
        if status in APPROVAL_STATUS_LABELS:
            query = query.where(Approval.status == status)
        total = db.session.scalar(select(func.count()).select_from(query.subquery())) or 0
        page = max(1, request.args.get("page", 1, type=int) or 1)
        items = db.session.scalars(query.order_by(Approval.id.desc())
                                   .limit(PAGE_SIZE).offset((page - 1) * PAGE_SIZE)).all()
        return self.render_template(
            "crm/approval_list.html", title="Мои заявки", mine=True, items=items,
            total=total, page=page, pages=max(1, -(-total // PAGE_SIZE)), status=status,
            labels=APPROVAL_STATUS_LABELS)

    @expose("/<int:pk>")
    @has_access
    def show(self, pk):
        approval, user = visible_approval(pk)
        if approval is None:
            abort(404)
        row = my_row(approval, user)
        people = db.session.scalars(select(CrmUser).where(
            CrmUser.active.is_(True), CrmUser.id != user.id,
            CrmUser.id != (approval.requester_id or 0))
            .order_by(CrmUser.last_name).limit(500)).all() if row is not None else []
        return self.render_template(
            "crm/approval_show.html", title=approval.title, approval=approval, row=row,
            summary=summary(approval), history=history(approval), decisions=DECISION_LABELS,
            people=people, may_resubmit=_may_resubmit(approval, user), csrf=csrf_token(),
            steps=approval.step_names)

    @expose("/<int:pk>/decide", methods=["POST"])
    @has_access
    def decide(self, pk):
        check_csrf()
        approval, user = visible_approval(pk)
        if approval is None:
            abort(404)
        decision, comment, delegate = _decision_form()
        try:
            outcome = _decide(row_to_decide(approval, user).id, user, decision, comment,
                              delegate)
        except CrmError as exc:
            db.session.rollback()
            flash(exc.message, "danger")
            return redirect(url_for("ApprovalView.show", pk=pk))
        flash(outcome.message, "success")
        if request.form.get("back") == "notifications":
            return redirect(url_for("NotificationView.list"))
        return redirect(url_for("ApprovalView.inbox"))

    @expose("/<int:pk>/resubmit", methods=["POST"])
    @has_access
    def resubmit(self, pk):
        check_csrf()
        approval, user = visible_approval(pk)
        if approval is None:
            abort(404)
        if not _may_resubmit(approval, user):
            flash("Отправить повторно может автор согласования, когда его вернули на "
                  "доработку", "danger")
            return redirect(url_for("ApprovalView.show", pk=pk))
        try:
            with refusing_database_errors():
                approvals.resubmit(approval, user.id)
                db.session.commit()
        except CrmError as exc:
            db.session.rollback()
            flash(exc.message, "danger")
            return redirect(url_for("ApprovalView.show", pk=pk))
        flash("Отправлено на согласование повторно", "success")
        return redirect(url_for("ApprovalView.show", pk=pk))

    @expose("/<int:pk>/file/<int:file_id>")
    @has_access
    def file(self, pk, file_id):
        """A file of the approval's record, for whoever sees the approval: an approver who
        does not see the record otherwise still reads what they are asked about."""
        approval, _user = visible_approval(pk)
        if approval is None:
            abort(404)
        attachment = live_attachment(file_id)
        if attachment is None or attachment.entity != approval.entity \
                or attachment.record_id != approval.record_id:
            abort(404)
        return send_attachment(attachment)


def _may_resubmit(approval, user) -> bool:
    return approval.status == ApprovalStatus.rework.value and user is not None \
        and user.id == approval.requester_id


def _entity_choices() -> list[tuple[str, str]]:
    keys = ("deal", "order", "event", "lead", "request")
    return [(k, entity_label(k)) for k in keys if entity_label(k)]


class ApprovalMailView(BaseView):
    """The e-mail copy's link: it shows the approval and asks only for the decision (and a
    comment for «Отклонить» / «На доработку»). Opening it decides nothing; the POST decides
    as the person the link was sent to, once."""

    route_base = "/approvals/mail"
    default_view = "open"

    @expose("/<token>", methods=["GET", "POST"])
    def open(self, token):
        try:
            row = read_token(token)
        except LinkRefused as exc:
            return self.render_template("crm/approval_mail.html", title="Согласование",
                                        error=str(exc)), 410
        approval = row.approval
        user = db.session.get(CrmUser, row.user_id)
        if user is None or not user.active:
            return self.render_template("crm/approval_mail.html", title="Согласование",
                                        error="Ссылка недействительна"), 410
        problem = approvals.may_decide(row, user)
        if request.method == "POST" and problem is None:
            check_csrf()
            decision = (request.form.get("decision") or "").strip()
            if decision == Decision.delegate.value:
                decision = ""  # delegation needs the CRM: a person to choose
            try:
                with acting_as(user.id):
                    outcome = _decide(row.id, user, decision, request.form.get("comment"),
                                      None)
            except CrmError as exc:
                db.session.rollback()
                return self.render_template(
                    "crm/approval_mail.html", title="Согласование", approval=approval,
                    row=row, error=exc.message, token=token, csrf=csrf_token(),
                    summary=_mail_summary(approval)), exc.http_status
            return self.render_template("crm/approval_mail.html", title="Согласование",
                                        approval=approval, done=outcome.message)
        return self.render_template(
            "crm/approval_mail.html", title="Согласование", approval=approval, row=row,
            error=problem, token=token, csrf=csrf_token(), summary=_mail_summary(approval))


def _mail_summary(approval) -> dict:
    with acting_as(None):
        out = summary(approval)
    out["url"], out["files"] = None, []  # the files and the record stay behind the sign-in
    return out


# --- REST --------------------------------------------------------------------------------
class ApprovalApi(BaseApi):
    """GET /api/v1/approval/ (my inbox; ?mine=1: what I started), GET /api/v1/approval/<id>
    (with its history), POST /api/v1/approval/<id>/decide {"decision": "approve" | "reject"
    | "rework" | "delegate", "comment": "...", "delegate_to": user id}, POST
    /api/v1/approval/<id>/resubmit."""

    resource_name = "approval"
    class_permission_name = RESOURCE
    method_permission_name = {"inbox": "read", "detail": "read", "decide": "read",
                              "resubmit": "read"}
    base_permissions = ["can_read"]
    openapi_spec_tag = "Согласования"

    @expose("/", methods=["GET"])
    @protect()
    def inbox(self):
        me = current_actor_id()
        page = request.args.get("page", 1, type=int) or 1
        if page < 1 or page > 100_000:
            return self.response_400(message="Неверный номер страницы")
        if request.args.get("mine") == "1":
            query = select(Approval).where(Approval.requester_id == me)
            items = db.session.scalars(query.order_by(Approval.id.desc()).limit(PAGE_SIZE)
                                       .offset((page - 1) * PAGE_SIZE)).all()
            return self.response(200, result=[as_json(a) for a in items])
        rows = db.session.scalars(approvals.inbox_query(me).options(_WITH_APPROVAL)
                                  .limit(PAGE_SIZE).offset((page - 1) * PAGE_SIZE)).all()
        return self.response(200, count=inbox_count(me), result=[
            {**as_json(r.approval), "step_id": r.id, "due_at": r.due_at.isoformat() + "Z"
             if r.due_at else None} for r in rows])

    @expose("/<int:pk>", methods=["GET"])
    @protect()
    def detail(self, pk):
        approval, _user = visible_approval(pk)
        if approval is None:
            return self.response_404()
        return self.response(200, result=as_json(approval, with_history=True))

    @expose("/<int:pk>/decide", methods=["POST"])
    @protect()
    def decide(self, pk):
        approval, user = visible_approval(pk)
        if approval is None:
            return self.response_404()
        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            return self.response(422, message="Ожидается JSON-объект: {\"decision\": "
                                              "\"approve\", \"comment\": \"...\"}")
        try:
            decision, comment, delegate = _body(body)
            outcome = _decide(row_to_decide(approval, user).id, user, decision, comment,
                              delegate)
        except CrmError as exc:
            db.session.rollback()
            payload = {"message": exc.message}
            if isinstance(exc, FieldErrors):
                payload["errors"] = exc.errors
            return self.response(exc.http_status, **payload)
        db.session.refresh(approval)
        return self.response(200, message=outcome.message, result=as_json(approval, True))

    @expose("/<int:pk>/resubmit", methods=["POST"])
    @protect()
    def resubmit(self, pk):
        approval, user = visible_approval(pk)
        if approval is None:
            return self.response_404()
        if not _may_resubmit(approval, user):
            return self.response(409, message="Отправить повторно может автор согласования, "
                                              "когда его вернули на доработку")
        try:
            with refusing_database_errors():
                approvals.resubmit(approval, user.id)
                db.session.commit()
        except CrmError as exc:
            db.session.rollback()
            return self.response(exc.http_status, message=exc.message)
        return self.response(200, result=as_json(approval, True))


def _body(body: dict) -> tuple:
    errors = {}
    decision = body.get("decision")
    if not isinstance(decision, str) or decision not in DECISION_LABELS:
        errors["decision"] = "Ожидается одно из: " + ", ".join(DECISION_LABELS)
    comment = body.get("comment")
    if comment is not None and not isinstance(comment, str):
        errors["comment"] = "Ожидается строка"
    delegate = body.get("delegate_to")
    if delegate is not None and (isinstance(delegate, bool) or not isinstance(delegate, int)):
        errors["delegate_to"] = "Ожидается номер пользователя"
    if errors:
        raise FieldErrors(errors)
    return decision, comment, delegate


def register_views(appbuilder):
    register(appbuilder, ApprovalView, "Мои согласования", "Согласования",
             icon="fa-check-square-o", api=ApprovalApi)
    appbuilder.add_view_no_menu(ApprovalMailView)
    current_app.jinja_env.globals["crm_approval_count"] = badge_count


__all__ = ["ApprovalView", "ApprovalApi", "ApprovalMailView", "inbox_count", "may_view"]
