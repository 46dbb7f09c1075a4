"""Absences: «Календарь отсутствий» (who is away in a month), «Отсутствия» (the list the
accountant keeps by hand: a sick leave reported by phone), «Остатки отпусков» (leave
balances) and their REST API.

Whoever reads absences sees who is away and when. What kind a sick leave is only the people
`process.absence.kind_readers` names know: to everyone else, on every screen, in the CSV and
in the API, it is «Отсутствует», without its comment or request. Absences a request
registered change with the request (process/absence.py), not on these screens."""
from __future__ import annotations

import calendar as month_calendar
import datetime as dt
import re

from flask import abort, current_app, flash, g, make_response, redirect, request, url_for
from flask_appbuilder import BaseView, expose
from flask_appbuilder.api import BaseApi, safe
from flask_appbuilder.models.sqla.filters import FilterEqual
from flask_appbuilder.security.decorators import has_access, protect
from sqlalchemy import func, select
from sqlalchemy import inspect as sa_inspect
from wtforms import SelectField

from app.access import access_table, personnel_roles
from app.extensions import db
from errors import CrmError
from models.absence import (ABSENCE_KIND_LABELS, ABSENT_LABEL, YEARS,
                            Absence, AbsenceKind, LeaveBalance, balance_errors)
from models.base import acting_user
from models.labels import ABSENCE_LABELS, LEAVE_BALANCE_LABELS
from models.user import CrmUser, Department
from process.absence import (absences_between, balance, balance_readers, balances,
                             kind_readers, kind_shown, kind_text, local_today)
from rules.durations import is_working_day, public_holidays
from views.base import CrmModelRestApi, CrmModelView, csv_cell, register
from views.csrf import check_csrf, csrf_token
from views.errors import refusing_database_errors
from views.listing import ListInterface

CATEGORY = "Сотрудники"
# Rows of the calendar and the balances per page: an office, not a table to scroll forever.
PAGE_SIZE = 100
COMMENT_MAX = 2000
FROM_REQUEST = ("Отсутствие внесено по заявке ({source}): измените или отзовите заявку, "
                "отсутствие изменится вместе с ней")
MONTHS = ("Январь", "Февраль", "Март", "Апрель", "Май", "Июнь", "Июль", "Август",
          "Сентябрь", "Октябрь", "Ноябрь", "Декабрь")
WEEKDAYS = ("Пн", "Вт", "Ср", "Чт", "Пт", "Сб", "Вс")
# Colour and short code of each kind on the calendar (the codes after the timesheet's:
# ОТ, ДО, Б); a sick day the viewer may not know as such is grey, «—».
KIND_STYLE = {
    AbsenceKind.vacation.value: ("#5cb85c", "ОТ"),
    AbsenceKind.unpaid.value: ("#f0ad4e", "ДО"),
    AbsenceKind.sick.value: ("#d9534f", "Б"),
    AbsenceKind.remote.value: ("#5bc0de", "УД"),
    AbsenceKind.day_off.value: ("#9b59b6", "ОГ"),
}
HIDDEN_STYLE = ("#999999", "—")
# Fields an absence hides with its kind.
PRIVATE_FIELDS = ("comment", "source_label", "source_entity", "source_id")
ACTIVE_USERS = [["active", FilterEqual, True]]


def may_not_change_message() -> str:
    """Neutral words: naming the roles that may is enough, naming the kind would tell it."""
    labels = access_table().roles
    names = ", ".join(labels[r].label for r in sorted(personnel_roles()) if r in labels)
    return f"Это отсутствие могут изменить только: {names}"


def _stored(item, name: str):
    """The value as loaded, before this request changed it."""
    history = sa_inspect(item).attrs[name].history
    return history.deleted[0] if history.deleted else getattr(item, name)


def change_refusal(item) -> str | None:
    """Why the signed-in user may not edit this absence on a screen or through the API, or
    None. A request's absence changes with the request; a sick leave whose kind the user may
    not know is not theirs to open in a form (the form would show it)."""
    if sa_inspect(item).transient or sa_inspect(item).pending:
        return None
    if _stored(item, "source_entity"):
        return FROM_REQUEST.format(source=item.source_label)
    stored = Absence(kind=_stored(item, "kind"), user_id=_stored(item, "user_id"))
    if not kind_shown(stored, kind_readers(acting_user())):
        return may_not_change_message()
    return None


def delete_refusal(item) -> str | None:
    if item.source_entity:
        return FROM_REQUEST.format(source=item.source_label)
    return None


# --- «Отсутствия» ---------------------------------------------------------------------------

class AbsenceInterface(ListInterface):
    """The list's and the record page's values: the kind as the viewer may read it, and a
    hidden sick leave without its comment and request."""

    def shown_value(self, item, column: str):
        if isinstance(item, Absence) and column in ("kind", "kind_label", *PRIVATE_FIELDS):
            readers = kind_readers(acting_user())
            if column in ("kind", "kind_label"):
                return kind_text(item, readers)
            if not kind_shown(item, readers):
                return ""
        return super()._get_attr_value(item, column)

    def _get_attr_value(self, item, col):
        return self.shown_value(item, col)


def _kind_field():
    return SelectField(ABSENCE_LABELS["kind"], choices=list(ABSENCE_KIND_LABELS.items()),
                       default=AbsenceKind.vacation.value)


class AbsenceView(CrmModelView):
    datamodel = AbsenceInterface(Absence, load=("user",))
    resource = "absence"
    titles = ("Отсутствия", "Отсутствие", "Новое отсутствие", "Изменение отсутствия")
    label_columns = ABSENCE_LABELS
    list_columns = ["user", "kind", "date_from", "date_to", "days", "comment"]
    show_columns = ["user", "kind", "date_from", "date_to", "days", "comment", "source_label",
                    "created_by", "created_at", "updated_at"]
    add_columns = edit_columns = ["user", "kind", "date_from", "date_to", "comment"]
    # No search or order by kind: a filter «Больничный» would tell whose days are sick days.
    search_columns = ["user", "date_from", "date_to"]
    order_columns = ["date_from", "date_to"]
    base_order = ("date_from", "desc")
    # FAB's record page without the history and files of crm/show.html: the audit of a
    # sick leave names its kind.
    show_template = "appbuilder/general/model/show.html"
    add_form_query_rel_fields = {"user": ACTIVE_USERS}
    add_form_extra_fields = {"kind": _kind_field()}
    edit_form_extra_fields = {"kind": _kind_field()}
    description_columns = {
        "date_to": "Последний день отсутствия",
        "comment": "Например: больничный лист, сообщил по телефону",
    }

    def _edit(self, pk):
        known = str(pk).isascii() and str(pk).isdigit()
        item = self.datamodel.get(pk, self._base_filters) if known else None
        refusal = change_refusal(item) if item is not None else None
        if refusal:
            flash(refusal, "danger")
            g.crm_absence_refused = True
            return None  # FAB then redirects: post_edit_redirect
        return super()._edit(pk)

    def post_edit_redirect(self):
        if g.pop("crm_absence_refused", False):
            return redirect(url_for(f"{self.endpoint}.list"))
        return super().post_edit_redirect()

    def pre_update(self, item):
        refusal = change_refusal(item)
        if refusal:
            db.session.rollback()
            raise CrmError(refusal)
        super().pre_update(item)

    def pre_delete(self, item):
        refusal = delete_refusal(item)
        if refusal:
            raise CrmError(refusal)

    def _export_value(self, item, column):
        if column in ("kind", *PRIVATE_FIELDS):
            return csv_cell(self.datamodel.shown_value(item, column))
        return super()._export_value(item, column)


API_COLUMNS = ["id", "user.id", "user.last_name", "user.first_name", "kind", "date_from",
               "date_to", "comment", "source_entity", "source_id"]


class AbsenceApi(CrmModelRestApi):
    """/api/v1/absence/: every absence, with the kind as the caller may read it (plus
    `kind_label`); a hidden sick leave has kind, comment and request null."""

    resource_name = "absence"
    resource = "absence"
    datamodel = AbsenceInterface(Absence)
    list_columns = API_COLUMNS
    show_columns = [*API_COLUMNS, "created_at", "updated_at"]
    add_columns = edit_columns = ["user", "kind", "date_from", "date_to", "comment"]
    label_columns = ABSENCE_LABELS
    search_columns = ["user", "date_from", "date_to"]
    order_columns = ["id", "date_from", "date_to"]
    base_order = ("date_from", "desc")

    def pre_get_list(self, data):
        _mask(data.get("result") or [], data.get("ids") or [])

    def pre_get(self, data):
        _mask([data["result"]], [data["id"]])

    def pre_update(self, item):
        refusal = change_refusal(item)
        if refusal:
            raise CrmError(refusal)
        super().pre_update(item)

    def pre_delete(self, item):
        refusal = delete_refusal(item)
        if refusal:
            raise CrmError(refusal)


def _mask(results: list[dict], ids: list) -> None:
    """Hides what the caller may not know of each row, read from the rows themselves (the
    caller may have asked for columns without the person)."""
    readers = kind_readers(acting_user())
    keys = [int(pk) for pk in ids]
    rows = {row.id: row for row in db.session.execute(
        select(Absence.id, Absence.kind, Absence.user_id).where(Absence.id.in_(keys)))} \
        if keys else {}
    for result, pk in zip(results, keys):
        row = rows.get(pk)
        if row is None:
            continue
        shown = kind_shown(row, readers)
        if not shown:
            for key in ("kind", "comment", "source_entity", "source_id"):
                if key in result:
                    result[key] = None
        result["kind_label"] = ABSENCE_KIND_LABELS.get(row.kind, row.kind) if shown \
            else ABSENT_LABEL


# --- the filters of the two pages -----------------------------------------------------------

def _page_arg() -> int:
    page = request.args.get("page", type=int)
    return page if page and page > 0 else 1


def _department_arg() -> Department | None:
    """The department filter; a wrong one is said and ignored."""
    raw = (request.args.get("department") or "").strip()
    if not raw:
        return None
    found = db.session.get(Department, int(raw)) if re.fullmatch(r"[0-9]{1,9}", raw) else None
    if found is None:
        flash("Отдел не найден: показаны все отделы", "warning")
    return found


def _departments() -> list[Department]:
    return list(db.session.scalars(select(Department).where(Department.active.is_(True))
                                   .order_by(Department.name)))


def _users_page(stmt, page: int):
    """(users of the page, pages) of a select of users, grouped by department, then by name."""
    total = db.session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    pages = max(1, -(-total // PAGE_SIZE))
    page = min(page, pages)
    users = list(db.session.scalars(
        stmt.outerjoin(Department, CrmUser.department_id == Department.id)
        .order_by(Department.name.is_(None), Department.name, CrmUser.last_name,
                  CrmUser.first_name, CrmUser.id)
        .limit(PAGE_SIZE).offset((page - 1) * PAGE_SIZE)))
    return users, page, pages


def _by_department(rows: list[dict]) -> list[dict]:
    groups: list[dict] = []
    for row in rows:
        name = row["user"].department.name if row["user"].department else "Без отдела"
        if not groups or groups[-1]["name"] != name:
            groups.append({"name": name, "rows": []})
        groups[-1]["rows"].append(row)
    return groups


# --- «Календарь отсутствий» -----------------------------------------------------------------

def _month_arg(today: dt.date) -> dt.date:
    raw = (request.args.get("month") or "").strip()
    if not raw:
        return today.replace(day=1)
    match = re.fullmatch(r"([0-9]{4})-([0-9]{1,2})", raw)
    if match and YEARS[0] <= int(match.group(1)) <= YEARS[1] \
            and 1 <= int(match.group(2)) <= 12:
        return dt.date(int(match.group(1)), int(match.group(2)), 1)
    flash(f"Месяц «{raw[:20]}» не распознан (ожидается ГГГГ-ММ): показан текущий месяц",
          "warning")
    return today.replace(day=1)


def _shift_month(first: dt.date, months: int) -> dt.date | None:
    index = first.year * 12 + first.month - 1 + months
    year, month = divmod(index, 12)
    return dt.date(year, month + 1, 1) if YEARS[0] <= year <= YEARS[1] else None


def month_days(first: dt.date) -> list[dict]:
    """The calendar's columns: each day with its weekday and whether it is a day off (a
    weekend, a public holiday, a day off moved by decree), and the holiday's name."""
    holidays = public_holidays(first.year)
    count = month_calendar.monthrange(first.year, first.month)[1]
    out = []
    for number in range(1, count + 1):
        day = first.replace(day=number)
        out.append({"date": day, "number": number, "weekday": WEEKDAYS[day.weekday()],
                    "off": not is_working_day(day), "holiday": holidays.get(day, "")})
    return out


def calendar_cell(absence: Absence | None, readers) -> dict | None:
    if absence is None:
        return None
    shown = kind_shown(absence, readers)
    colour, code = KIND_STYLE.get(absence.kind, HIDDEN_STYLE) if shown else HIDDEN_STYLE
    return {"colour": colour, "code": code, "kind": absence.kind if shown else "",
            "title": f"{kind_text(absence, readers)}: {absence.period_label}"}


def calendar_rows(users: list, first: dt.date, days: list[dict], readers) -> list[dict]:
    """One row per user: a cell per day of the month, empty where the user is at work."""
    last = days[-1]["date"]
    by_user: dict[int, list[Absence]] = {}
    for absence in absences_between([u.id for u in users], first, last):
        by_user.setdefault(absence.user_id, []).append(absence)
    rows = []
    for user in users:
        own = by_user.get(user.id, [])
        cells = []
        for day in days:
            covering = [a for a in own if a.covers(day["date"])]
            cells.append(calendar_cell(_first_shown(covering, readers), readers))
        rows.append({"user": user, "cells": cells, "away": bool(own)})
    return rows


def _first_shown(absences: list[Absence], readers) -> Absence | None:
    """The absence a day shows when several overlap: a kind the viewer may know before one
    they may not (the grey cell would hide a vacation behind a sick leave's secret)."""
    if not absences:
        return None
    order = list(KIND_STYLE)
    return min(absences, key=lambda a: (not kind_shown(a, readers),
                                        order.index(a.kind) if a.kind in order else 99,
                                        -a.date_to.toordinal()))


class AbsenceCalendarView(BaseView):
    """Who is away in a month: rows are employees by department, columns the days."""

    route_base = "/absence/calendar"
    resource = "absence"
    class_permission_name = "absence"
    method_permission_name = {"calendar": "read"}
    base_permissions = ["can_read"]
    default_view = "calendar"

    @expose("/")
    @has_access
    def calendar(self):
        today = local_today()
        first = _month_arg(today)
        department = _department_arg()
        only_away = request.args.get("away") == "1"
        days = month_days(first)
        stmt = select(CrmUser).where(CrmUser.active.is_(True))
        if department is not None:
            stmt = stmt.where(CrmUser.department_id == department.id)
        if only_away:
            stmt = stmt.where(CrmUser.id.in_(select(Absence.user_id).where(
                Absence.date_from <= days[-1]["date"], Absence.date_to >= first)))
        users, page, pages = _users_page(stmt, _page_arg())
        viewer = acting_user()
        readers = kind_readers(viewer)
        rows = calendar_rows(users, first, days, readers)

        def link(month=first, page_no=None, away=only_away):
            args = {"month": f"{month:%Y-%m}"}
            if department is not None:
                args["department"] = department.id
            if away:
                args["away"] = "1"
            if page_no and page_no > 1:
                args["page"] = page_no
            return url_for("AbsenceCalendarView.calendar", **args)

        previous, following = _shift_month(first, -1), _shift_month(first, 1)
        legend = [(ABSENCE_KIND_LABELS[k], colour, code) for k, (colour, code)
                  in KIND_STYLE.items()]
        if readers is not None:
            legend.append((ABSENT_LABEL, *HIDDEN_STYLE))
        return self.render_template(
            "crm/absence_calendar.html", title="Календарь отсутствий",
            month_title=f"{MONTHS[first.month - 1]} {first.year}", first=first, days=days,
            groups=_by_department(rows), departments=_departments(), department=department,
            only_away=only_away, legend=legend, today=today, viewer_id=getattr(viewer, "id", None),
            previous_url=link(previous) if previous else None,
            next_url=link(following) if following else None,
            today_url=link(today.replace(day=1)), page=page, pages=pages,
            page_url=lambda n: link(page_no=n))


# --- «Остатки отпусков» ---------------------------------------------------------------------

def _year_arg(today: dt.date) -> int:
    raw = (request.args.get("year") or "").strip()
    if not raw:
        return today.year
    if re.fullmatch(r"[0-9]{4}", raw) and YEARS[0] <= int(raw) <= YEARS[1]:
        return int(raw)
    flash(f"Год «{raw[:20]}» не распознан (ожидается от {YEARS[0]} до {YEARS[1]}): "
          "показан текущий год", "warning")
    return today.year


def _balance_users_stmt(readers, department: Department | None):
    stmt = select(CrmUser).where(CrmUser.active.is_(True))
    if readers is not None:
        stmt = stmt.where(CrmUser.id.in_(readers or {-1}))
    if department is not None:
        stmt = stmt.where(CrmUser.department_id == department.id)
    return stmt


# The edit form's fields: (name, label, may be negative).
BALANCE_FIELDS = (("days_per_year", LEAVE_BALANCE_LABELS["days_per_year"], False),
                  ("carried_over", LEAVE_BALANCE_LABELS["carried_over"], False),
                  ("adjustment", LEAVE_BALANCE_LABELS["adjustment"], True))
_WHOLE_NUMBER = re.compile(r"[+-]?[0-9]{1,6}")


def parse_balance_form(form) -> tuple[dict, dict[str, str]]:
    """(values, {field: Russian message}) of the balance form: whole numbers of days within
    their bounds, a comment of a reasonable length."""
    values, errors = {}, {}
    for name, label, _signed in BALANCE_FIELDS:
        raw = (form.get(name) or "").strip().replace("\u2212", "-")
        if not _WHOLE_NUMBER.fullmatch(raw):
            errors[name] = f"{label}: введите целое число"
            values[name] = None
        else:
            values[name] = int(raw)
    numbers = {k: v for k, v in values.items() if v is not None}
    for name, message in balance_errors(2000, numbers.get("days_per_year", 0),
                                        numbers.get("carried_over", 0),
                                        numbers.get("adjustment", 0)).items():
        if name in numbers:
            errors[name] = message
    comment = (form.get("comment") or "").strip()
    if len(comment) > COMMENT_MAX:
        errors["comment"] = f"Комментарий: не больше {COMMENT_MAX} символов"
    values["comment"] = comment or None
    return values, errors


class LeaveBalanceView(BaseView):
    """Vacation days per employee and year. The `personnel` roles see everyone (and, with
    the write right, change the days); a department's head sees the department; everyone
    else their own line."""

    route_base = "/leave_balance"
    resource = "leave_balance"
    class_permission_name = "leave_balance"
    method_permission_name = {"list": "read", "edit": "write"}
    base_permissions = ["can_read", "can_write"]
    default_view = "list"

    @expose("/")
    @has_access
    def list(self):
        today = local_today()
        year = _year_arg(today)
        readers = balance_readers(acting_user())
        department = _department_arg()
        users, page, pages = _users_page(_balance_users_stmt(readers, department), _page_arg())
        numbers = balances([u.id for u in users], year)
        comments = dict(db.session.execute(select(LeaveBalance.user_id, LeaveBalance.comment)
                                           .where(LeaveBalance.year == year,
                                                  LeaveBalance.user_id.in_(
                                                      [u.id for u in users] or [-1]))).all())
        rows = [{"user": u, "numbers": numbers[u.id], "comment": comments.get(u.id) or ""}
                for u in users]

        def link(year_no=year, page_no=None):
            args = {"year": year_no}
            if department is not None:
                args["department"] = department.id
            if page_no and page_no > 1:
                args["page"] = page_no
            return url_for("LeaveBalanceView.list", **args)

        return self.render_template(
            "crm/leave_balances.html", title="Остатки отпусков", year=year,
            groups=_by_department(rows), labels=LEAVE_BALANCE_LABELS,
            departments=_departments() if readers is None or len(users) > 1 else [],
            department=department,
            can_edit=current_app.appbuilder.sm.has_access("can_write", "leave_balance"),
            previous_url=link(year - 1) if year > YEARS[0] else None,
            next_url=link(year + 1) if year < YEARS[1] else None,
            page=page, pages=pages, page_url=lambda n: link(page_no=n))

    @expose("/edit/<int:user_id>/<int:year>", methods=["GET", "POST"])
    @has_access
    def edit(self, user_id: int, year: int):
        readers = balance_readers(acting_user())
        user = db.session.get(CrmUser, user_id) if user_id < 2 ** 31 else None
        if user is None or (readers is not None and user.id not in readers) \
                or not YEARS[0] <= year <= YEARS[1]:
            abort(404)
        row = db.session.scalar(select(LeaveBalance).where(LeaveBalance.user_id == user.id,
                                                           LeaveBalance.year == year))
        current = balance(user.id, year)
        values = {name: current[name] for name, _label, _signed in BALANCE_FIELDS}
        values["comment"] = row.comment if row else ""
        errors: dict[str, str] = {}
        if request.method == "POST":
            check_csrf()
            values, errors = parse_balance_form(request.form)
            if not errors:
                try:
                    with refusing_database_errors():
                        if row is None:
                            row = LeaveBalance(user_id=user.id, year=year)
                            db.session.add(row)
                        for name, value in values.items():
                            setattr(row, name, value)
                        db.session.commit()
                except CrmError as exc:
                    errors = {"": exc.message}
                else:
                    flash(f"Остаток отпуска сохранён: {user}, {year} год", "success")
                    return redirect(url_for("LeaveBalanceView.list", year=year))
            for message in errors.values():
                flash(message, "danger")
            values = {k: (request.form.get(k, "") if v is None else v)
                      for k, v in values.items()}
        page = self.render_template(
            "crm/leave_balance_edit.html", title="Изменение остатка отпуска", user=user,
            year=year, values=values, errors=errors, used=current["used"],
            labels=LEAVE_BALANCE_LABELS, fields=BALANCE_FIELDS, csrf=csrf_token())
        return make_response(page, 422 if errors else 200)


class LeaveBalanceApi(BaseApi):
    """/api/v1/leave_balance/mine?year=2026: the signed-in user's own balance, read only."""

    resource_name = "leave_balance"
    class_permission_name = "leave_balance"
    method_permission_name = {"mine": "read"}
    base_permissions = ["can_read"]
    allow_browser_login = True

    @expose("/mine", methods=["GET"])
    @protect()
    @safe
    def mine(self):
        """The signed-in user's leave balance of a year.
        ---
        get:
          summary: Мой остаток отпуска
          parameters:
          - in: query
            name: year
            schema: {type: integer}
            description: Год (по умолчанию текущий)
          responses:
            200:
              description: Дни отпуска за год
            400:
              $ref: '#/components/responses/400'
            401:
              $ref: '#/components/responses/401'
        """
        raw = (request.args.get("year") or "").strip()
        if raw and not (re.fullmatch(r"[0-9]{4}", raw) and YEARS[0] <= int(raw) <= YEARS[1]):
            return self.response_400(message=f"Параметр year: год от {YEARS[0]} до {YEARS[1]}")
        year = int(raw) if raw else local_today().year
        user = acting_user()
        return self.response(200, result={"user_id": user.id, "year": year,
                                          **balance(user.id, year)})


def register_views(appbuilder):
    register(appbuilder, AbsenceCalendarView, "Календарь отсутствий", CATEGORY,
             icon="fa-calendar", category_icon="fa-users")
    register(appbuilder, AbsenceView, "Отсутствия", CATEGORY, icon="fa-user-times",
             api=AbsenceApi, category_icon="fa-users")
    register(appbuilder, LeaveBalanceView, "Остатки отпусков", CATEGORY, icon="fa-plane",
             category_icon="fa-users")
    appbuilder.add_api(LeaveBalanceApi)


__all__ = ["AbsenceView", "AbsenceApi", "AbsenceCalendarView", "LeaveBalanceView",
           "LeaveBalanceApi"]
