"""«Ознакомление»: the list (documents I must confirm, those I launched, and for the
director and the admin all of them), the document page with «Ознакомлен(а)» and the table
of who has and who has not, the launch form, the files, and the REST API.

Every endpoint has its right from app/access.yaml (reading is everyone's, launching the
heads', the director's and the admin's) and then checks the document's rows
(process/acknowledgement.py: `may_open`, `may_manage`, the recipient's own row): a person
the document is not addressed to gets 403 on the page, its files, the confirmation and the
API alike. The generic file endpoints (views/timeline.py) do not serve these files."""
from __future__ import annotations

import datetime as dt

from flask import flash, jsonify, make_response, redirect, request, url_for
from flask_appbuilder import BaseView, expose
from flask_appbuilder.api import BaseApi, safe
from flask_appbuilder.models.sqla.filters import FilterEqual
from flask_appbuilder.security.decorators import has_access, protect
from sqlalchemy import and_, case, func, select
from sqlalchemy.orm import selectinload

from app.attachments import allowed_extensions, discard_file, human_size, max_bytes
from app.extensions import db
from app.forms import DATE_INPUT_FORMATS, DATETIME_INPUT_FORMATS
from app.formatting import to_local, to_utc
from errors import CrmError, FieldErrors
from models.acknowledgement import (DESCRIPTION_MAX, LINK_MAX, TITLE_MAX, Acknowledgement,
                                    AcknowledgementRecipient, AcknowledgementStatus)
from models.attachment import Attachment
from models.base import acting_user, utcnow
from models.user import CrmUser, Department
from process import acknowledgement as service
from rules.durations import working_hours
from views.base import register
from views.csrf import check_csrf, csrf_token
from views.errors import refuse_with
from views.pickers import label_of, search
from views.timeline import send_attachment

RESOURCE = "acknowledgement"
PAGE_SIZE = 20
API_PAGE_SIZE = 50
API_PAGE_MAX = 100
BAD_DEADLINE = "Неверная дата и время: ожидается ДД.ММ.ГГГГ ЧЧ:ММ"
NOT_FOUND = "Документ не найден"
FILE_NOT_FOUND = "Файл не найден"
# The form's fields, in the order the page shows their messages.
FIELDS = ("title", "description", "link", "files", "users", "departments", "deadline")
ACTIVE_USERS = [["active", FilterEqual, True]]


def _me():
    return acting_user()


def _page(name: str) -> int:
    page = request.args.get(name, type=int)
    return page if page and page > 0 else 1


def _page_url(name: str, page: int) -> str:
    """The list with one section on another page, the other section where it was."""
    args = {k: v for k, v in request.args.items() if k in ("mine", "launched")}
    return url_for("AcknowledgementView.list", **{**args, name: page})


def _now() -> dt.datetime:
    return utcnow()


def _is_overdue(ack, confirmed_at, now) -> bool:
    """Not confirmed and the deadline passed while the document was still open."""
    return confirmed_at is None and ack.deadline < (ack.closed_at or now)


def _late(ack, confirmed_at) -> bool:
    return confirmed_at is not None and confirmed_at > ack.deadline


# --- lists ---------------------------------------------------------------------------------

def _paged(query, page: int, size: int = PAGE_SIZE):
    """(rows, page, pages, total) of a select; a page past the end shows the last one."""
    total = db.session.scalar(select(func.count()).select_from(query.order_by(None)
                                                               .subquery())) or 0
    pages = max(1, -(-total // size))
    page = min(page, pages)
    rows = db.session.execute(query.limit(size).offset((page - 1) * size)).all()
    return rows, page, pages, total


def _mine_query(user_id: int):
    """Documents addressed to the user: the ones still to confirm first, nearest deadline
    first; then the rest, newest first."""
    recipient = AcknowledgementRecipient
    waiting = and_(recipient.confirmed_at.is_(None),
                   Acknowledgement.status == AcknowledgementStatus.open.value)
    group = case((waiting, 0), else_=1)
    return (select(Acknowledgement, recipient.confirmed_at)
            .join(recipient, and_(recipient.acknowledgement_id == Acknowledgement.id,
                                  recipient.user_id == user_id))
            .options(selectinload(Acknowledgement.author))
            .order_by(group, case((waiting, Acknowledgement.deadline)),
                      Acknowledgement.id.desc()))


def unconfirmed_count(user_id: int) -> int:
    return db.session.scalar(
        select(func.count(AcknowledgementRecipient.id))
        .join(Acknowledgement, Acknowledgement.id == AcknowledgementRecipient.acknowledgement_id)
        .where(AcknowledgementRecipient.user_id == user_id,
               AcknowledgementRecipient.confirmed_at.is_(None),
               Acknowledgement.status == AcknowledgementStatus.open.value)) or 0


def _launched_query(author_id: int | None):
    """The user's own launches; None: every document (the director's and admin's list)."""
    query = select(Acknowledgement).options(selectinload(Acknowledgement.author))
    if author_id is not None:
        query = query.where(Acknowledgement.author_id == author_id)
    return query.order_by(Acknowledgement.id.desc())


def _tallies(ids) -> dict[int, tuple[int, int]]:
    """{document id: (recipients, confirmed)} for a page of documents, in one query."""
    if not ids:
        return {}
    recipient = AcknowledgementRecipient
    rows = db.session.execute(
        select(recipient.acknowledgement_id, func.count(recipient.id),
               func.count(recipient.confirmed_at))
        .where(recipient.acknowledgement_id.in_(list(ids)))
        .group_by(recipient.acknowledgement_id))
    return {ack_id: (total, confirmed) for ack_id, total, confirmed in rows}


def _launched_rows(rows, now) -> list[dict]:
    acks = [row[0] for row in rows]
    tallies = _tallies(a.id for a in acks)
    out = []
    for ack in acks:
        total, confirmed = tallies.get(ack.id, (0, 0))
        out.append({"ack": ack, "total": total, "confirmed": confirmed,
                    "overdue": total > confirmed and ack.deadline < (ack.closed_at or now)})
    return out


# --- the launch form -----------------------------------------------------------------------

def parse_deadline(raw: str | None) -> tuple[dt.datetime | None, str | None]:
    """(naive UTC, None) or (None, message). A date alone means the end of that working
    day in the office's zone."""
    raw = (raw or "").strip()
    if not raw:
        return None, None
    for fmt in DATETIME_INPUT_FORMATS:
        try:
            return to_utc(dt.datetime.strptime(raw, fmt)), None
        except ValueError:
            continue
    for fmt in DATE_INPUT_FORMATS:
        try:
            day = dt.datetime.strptime(raw, fmt).date()
        except ValueError:
            continue
        return to_utc(dt.datetime.combine(day, working_hours()[1])), None
    return None, BAD_DEADLINE


def _form_values(form) -> dict:
    return {
        "title": (form.get("title") or "").strip(),
        "description": form.get("description") or "",
        "link": (form.get("link") or "").strip(),
        "users": form.getlist("users"),
        "departments": form.getlist("departments"),
        "deadline": (form.get("deadline") or "").strip(),
    }


def _chosen_users(raw_ids) -> list[tuple[str, str]]:
    """The options the users' picker shows after a refused submit: the people it held."""
    ids = []
    for raw in raw_ids:
        try:
            ids.append(int(raw))
        except (TypeError, ValueError):
            continue
    if not ids:
        return []
    found = db.session.scalars(select(CrmUser).where(CrmUser.id.in_(ids),
                                                     CrmUser.active.is_(True))
                               .order_by(CrmUser.last_name, CrmUser.first_name))
    return [(str(u.id), label_of(u)) for u in found]


def _default_deadline(now) -> str:
    """Three days ahead at the end of the working day: a value to change, not to keep."""
    local = to_local(now).replace(tzinfo=None) + dt.timedelta(days=3)
    return dt.datetime.combine(local.date(), working_hours()[1]).strftime("%Y-%m-%dT%H:%M")


class AcknowledgementView(BaseView):
    route_base = "/acknowledgement"
    default_view = "list"
    resource = RESOURCE
    class_permission_name = RESOURCE
    # The notification's «Открыть запись» finds the document page through this.
    record_model = Acknowledgement
    # Reading is everyone's (app/access.yaml, common); each endpoint checks the rows.
    # Confirming is the recipient's own act, as marking a notification read is: the read
    # right and the recipient's row.
    method_permission_name = {"list": "read", "show": "read", "download": "read",
                              "confirm": "read", "add": "write", "form_picker": "write",
                              "close": "write"}
    base_permissions = ["can_read", "can_write"]

    # --- pages ---------------------------------------------------------------------------
    @expose("/list/")
    @has_access
    def list(self):
        me, now = _me(), _now()
        mine, mine_page, mine_pages, mine_total = _paged(_mine_query(me.id), _page("mine"))
        overseer = service.is_overseer(me)
        launched, launched_page, launched_pages, launched_total = _paged(
            _launched_query(None if overseer else me.id), _page("launched"))
        return self.render_template(
            "crm/acknowledgement_list.html", title="Ознакомление",
            mine=[{"ack": ack, "confirmed_at": confirmed_at,
                   "overdue": ack.is_open and _is_overdue(ack, confirmed_at, now),
                   "late": _late(ack, confirmed_at)} for ack, confirmed_at in mine],
            mine_page=mine_page, mine_pages=mine_pages, mine_total=mine_total,
            unconfirmed=unconfirmed_count(me.id),
            launched=_launched_rows(launched, now), launched_page=launched_page,
            launched_pages=launched_pages, launched_total=launched_total,
            overseer=overseer, can_launch=self.appbuilder.sm.has_access("can_write", RESOURCE),
            page_url=_page_url)

    def _document(self, pk: int):
        """The document if the user may open it: 404 for none, 403 (in Russian) for a
        document not addressed to them."""
        ack = db.session.get(Acknowledgement, pk)
        if ack is None:
            return None, refuse_with(404, NOT_FOUND)
        if not service.may_open(ack, _me()):
            return None, refuse_with(403, service.NO_ACCESS)
        return ack, None

    @expose("/show/<int:pk>")
    @has_access
    def show(self, pk):
        ack, refusal = self._document(pk)
        if refusal is not None:
            return refusal
        me, now = _me(), _now()
        mine = service.recipient_row(ack, me.id)
        manage = service.may_manage(ack, me)
        people = []
        if manage:
            people = [{"row": r, "overdue": _is_overdue(ack, r.confirmed_at, now),
                       "late": _late(ack, r.confirmed_at)} for r in _roster(ack)]
        confirmed = sum(1 for p in people if p["row"].confirmed_at is not None)
        return self.render_template(
            "crm/acknowledgement_show.html", title=ack.title, ack=ack,
            files=service.files_of(ack), mine=mine,
            mine_overdue=mine is not None and ack.is_open
            and _is_overdue(ack, mine.confirmed_at, now),
            mine_late=mine is not None and _late(ack, mine.confirmed_at),
            manage=manage, people=people, confirmed=confirmed,
            deadline_passed=ack.deadline < now, csrf=csrf_token())

    @expose("/<int:pk>/file/<int:file_id>")
    @has_access
    def download(self, pk, file_id):
        ack, refusal = self._document(pk)
        if refusal is not None:
            return refusal
        attachment = _file_of(ack, file_id)
        if attachment is None:
            return refuse_with(404, FILE_NOT_FOUND)
        return send_attachment(attachment)

    # --- actions -------------------------------------------------------------------------
    def _refused(self, pk: int, exc: CrmError):
        """403 on the error page (the document is not the user's to act on); anything
        else on the document page itself, with the message on top."""
        db.session.rollback()
        if exc.http_status in (403, 404):
            return refuse_with(exc.http_status, exc.message)
        flash(exc.message, "danger")
        response = make_response(self.show(pk))
        response.status_code = exc.http_status
        return response

    @expose("/<int:pk>/confirm", methods=["POST"])
    @has_access
    def confirm(self, pk):
        check_csrf()
        ack = db.session.get(Acknowledgement, pk)
        if ack is None:
            return refuse_with(404, NOT_FOUND)
        try:
            _row, done = service.confirm(ack, getattr(_me(), "id", None))
        except CrmError as exc:
            return self._refused(pk, exc)
        db.session.commit()
        flash("Ознакомление подтверждено" if done else "Вы уже подтвердили ознакомление",
              "success" if done else "info")
        return redirect(url_for(".show", pk=pk))

    @expose("/<int:pk>/close", methods=["POST"])
    @has_access
    def close(self, pk):
        check_csrf()
        ack = db.session.get(Acknowledgement, pk)
        if ack is None:
            return refuse_with(404, NOT_FOUND)
        try:
            done = service.close(ack, _me())
        except CrmError as exc:
            return self._refused(pk, exc)
        db.session.commit()
        flash("Ознакомление закрыто: напоминаний больше не будет" if done
              else "Ознакомление уже закрыто", "success" if done else "info")
        return redirect(url_for(".show", pk=pk))

    @expose("/add", methods=["GET", "POST"])
    @has_access
    def add(self):
        if request.method == "GET":
            values = {"title": "", "description": "", "link": "", "users": [],
                      "departments": [], "deadline": _default_deadline(_now())}
            return self._render_form(values, {})
        check_csrf()
        values = _form_values(request.form)
        deadline, problem = parse_deadline(values["deadline"])
        files = [(f.stream, f.filename, f.mimetype) for f in request.files.getlist("files")
                 if f and f.filename]
        try:
            if problem:
                raise FieldErrors({"deadline": problem})
            ack = service.launch(
                author_id=_me().id, title=values["title"], description=values["description"],
                link=values["link"], deadline=deadline, user_ids=values["users"],
                department_ids=values["departments"], files=files)
        except FieldErrors as exc:
            db.session.rollback()
            return self._render_form(values, exc.errors, status=422)
        # Read before the commit: a failed commit leaves a session that answers nothing
        # until it is rolled back, and the files are on disk already.
        saved = service.files_of(ack)
        try:
            db.session.commit()
        except Exception:
            db.session.rollback()
            for attachment in saved:
                discard_file(attachment)
            raise
        flash(f"Документ «{ack.title}» отправлен на ознакомление: "
              f"{len(ack.recipients)} чел.", "success")
        return redirect(url_for(".show", pk=ack.id))

    def _render_form(self, values: dict, errors: dict, status: int = 200):
        departments = db.session.scalars(select(Department).where(
            Department.active.is_(True)).order_by(Department.name)).all()
        chosen_departments = {str(v) for v in values["departments"]}
        response = make_response(self.render_template(
            "crm/acknowledgement_form.html", title="Новое ознакомление", values=values,
            errors=errors, messages=[errors[f] for f in FIELDS if f in errors],
            users=_chosen_users(values["users"]),
            departments=[(d, str(d.id) in chosen_departments) for d in departments],
            picker_url=url_for(".form_picker", name="users"),
            accept=",".join(f".{e}" for e in sorted(allowed_extensions())),
            max_size=human_size(max_bytes()) if max_bytes() else "",
            limits={"title": TITLE_MAX, "description": DESCRIPTION_MAX, "link": LINK_MAX},
            csrf=csrf_token()))
        response.status_code = status
        return response

    @expose("/form_picker/<name>")
    @has_access
    def form_picker(self, name):
        """The launch form's people picker (views/pickers.py): active users only."""
        if name != "users":
            return jsonify({"results": [], "message": "Поле не найдено"}), 404
        found = search(CrmUser, ACTIVE_USERS, request.args.get("q", ""))
        return jsonify({"results": [{"id": str(u.id), "text": label_of(u)} for u in found]})


def _roster(ack) -> list[AcknowledgementRecipient]:
    """The recipients with their people and departments: those who have not confirmed
    first, then by name."""
    recipient = AcknowledgementRecipient
    return list(db.session.scalars(
        select(recipient).join(CrmUser, CrmUser.id == recipient.user_id)
        .where(recipient.acknowledgement_id == ack.id)
        .options(selectinload(recipient.user).selectinload(CrmUser.department))
        .order_by(recipient.confirmed_at.is_(None).desc(), CrmUser.last_name,
                  CrmUser.first_name, CrmUser.id)))


def _file_of(ack, file_id: int):
    """A file of this very document (not of another record, not in the bin)."""
    return db.session.scalar(select(Attachment).where(
        Attachment.id == file_id, Attachment.entity == service.ENTITY,
        Attachment.record_id == ack.id, Attachment.deleted_at.is_(None)))


# --- REST ------------------------------------------------------------------------------------

def _when(value):
    return value.isoformat() if value else None


def _person(user) -> dict | None:
    return {"id": user.id, "name": str(user)} if user is not None else None


def _summary(ack, now) -> dict:
    return {"id": ack.id, "title": ack.title, "deadline": _when(ack.deadline),
            "status": ack.status, "status_label": ack.status_label,
            "author": _person(ack.author), "created_at": _when(ack.created_at),
            "deadline_passed": ack.deadline < now}


class AcknowledgementApi(BaseApi):
    """/api/v1/acknowledgement/: my documents to confirm and those I launched;
    /api/v1/acknowledgement/<id>: one document; /<id>/confirm (POST): «Ознакомлен(а)»;
    /<id>/file/<file id>: a file of it."""

    resource_name = "acknowledgement"
    class_permission_name = RESOURCE
    method_permission_name = {"mine": "read", "one": "read", "confirm": "read",
                              "content": "read"}
    allow_browser_login = True
    openapi_spec_tag = "Ознакомление"

    def _document(self, pk):
        ack = db.session.get(Acknowledgement, pk)
        if ack is None:
            return None, self.response(404, message=NOT_FOUND)
        if not service.may_open(ack, _me()):
            return None, self.response(403, message=service.NO_ACCESS)
        return ack, None

    @expose("/", methods=["GET"])
    @protect()
    @safe
    def mine(self):
        """Documents to confirm and documents launched by me.
        ---
        get:
          summary: Мои документы на ознакомление и запущенные мной
          parameters:
          - {in: query, name: page, schema: {type: integer, minimum: 1}}
          - {in: query, name: page_size, schema: {type: integer, minimum: 1, maximum: 100}}
          responses:
            200: {description: Списки документов}
        """
        me, now = _me(), _now()
        size = request.args.get("page_size", type=int) or API_PAGE_SIZE
        size = min(max(size, 1), API_PAGE_MAX)
        page = _page("page")
        mine, _p, _ps, mine_total = _paged(_mine_query(me.id), page, size)
        launched, _p, _ps, launched_total = _paged(_launched_query(me.id), page, size)
        return self.response(
            200, unconfirmed=unconfirmed_count(me.id),
            to_confirm_count=mine_total, launched_count=launched_total,
            to_confirm=[{**_summary(ack, now), "confirmed_at": _when(confirmed_at),
                         "overdue": ack.is_open and _is_overdue(ack, confirmed_at, now)}
                        for ack, confirmed_at in mine],
            launched=[{**_summary(row["ack"], now), "recipients": row["total"],
                       "confirmed": row["confirmed"], "overdue": row["overdue"]}
                      for row in _launched_rows(launched, now)])

    @expose("/<int:pk>", methods=["GET"])
    @protect()
    @safe
    def one(self, pk):
        """One document: its text, link, files, my confirmation; the table of recipients
        for its author, the director and the admin.
        ---
        get:
          summary: Документ на ознакомление
          parameters:
          - {in: path, name: pk, required: true, schema: {type: integer}}
          responses:
            200: {description: Документ}
            403: {description: Документ адресован не вам}
            404: {description: Не найден}
        """
        ack, error = self._document(pk)
        if error is not None:
            return error
        me, now = _me(), _now()
        mine = service.recipient_row(ack, me.id)
        result = {**_summary(ack, now), "description": ack.description, "link": ack.link,
                  "departments": [{"id": d.id, "name": d.name} for d in ack.departments],
                  "files": [{"id": f.id, "filename": f.filename, "size": f.size,
                             "download_url": url_for("AcknowledgementApi.content", pk=ack.id,
                                                     file_id=f.id)}
                            for f in service.files_of(ack)],
                  "my_confirmed_at": _when(mine.confirmed_at) if mine else None,
                  "i_am_recipient": mine is not None}
        if service.may_manage(ack, me):
            result["recipients"] = [
                {"user": _person(r.user), "confirmed_at": _when(r.confirmed_at),
                 "overdue": _is_overdue(ack, r.confirmed_at, now)} for r in _roster(ack)]
        return self.response(200, result=result)

    @expose("/<int:pk>/confirm", methods=["POST"])
    @protect()
    @safe
    def confirm(self, pk):
        """«Ознакомлен(а)»: confirming again changes nothing.
        ---
        post:
          summary: Подтвердить ознакомление
          parameters:
          - {in: path, name: pk, required: true, schema: {type: integer}}
          responses:
            200: {description: Подтверждено (или уже было подтверждено)}
            403: {description: Документ адресован не вам}
            404: {description: Не найден}
            409: {description: Ознакомление закрыто}
        """
        ack = db.session.get(Acknowledgement, pk)
        if ack is None:
            return self.response(404, message=NOT_FOUND)
        try:
            row, done = service.confirm(ack, getattr(_me(), "id", None))
        except CrmError as exc:
            db.session.rollback()
            return self.response(exc.http_status, message=exc.message)
        db.session.commit()
        return self.response(200, result={"id": ack.id, "confirmed_at": _when(row.confirmed_at),
                                          "already": not done},
                             message="Ознакомление подтверждено" if done
                             else "Вы уже подтвердили ознакомление")

    @expose("/<int:pk>/file/<int:file_id>", methods=["GET"])
    @protect()
    def content(self, pk, file_id):
        """A file of the document.
        ---
        get:
          summary: Скачать файл документа
          parameters:
          - {in: path, name: pk, required: true, schema: {type: integer}}
          - {in: path, name: file_id, required: true, schema: {type: integer}}
          responses:
            200: {description: Содержимое файла}
            403: {description: Документ адресован не вам}
            404: {description: Не найден}
        """
        ack, error = self._document(pk)
        if error is not None:
            return error
        attachment = _file_of(ack, file_id)
        if attachment is None:
            return self.response(404, message=FILE_NOT_FOUND)
        return send_attachment(attachment)


def register_views(appbuilder):
    register(appbuilder, AcknowledgementView, "Ознакомление", "Задачи", icon="fa-eye",
             api=AcknowledgementApi)


__all__ = ["AcknowledgementView", "AcknowledgementApi", "parse_deadline", "unconfirmed_count"]
