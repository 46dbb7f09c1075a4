"""Absences as the rest of the system uses them: vacation days by the Labour Code, absences
registered by the requests that create them, who takes an absent person's approvals, leave
balances, and who may know why a person is away.

The approval engine calls these functions inside its own transaction: they flush, never
commit."""
from __future__ import annotations

import datetime as dt
from collections import deque
from collections.abc import Iterable

from flask import current_app, has_app_context, has_request_context, request
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from app.access import personnel_roles
from app.extensions import db
from app.formatting import format_date, to_local
from errors import CrmError, FieldErrors
from models.absence import (ABSENCE_KIND_LABELS, ABSENT_LABEL, AWAY_KINDS,
                            DEFAULT_DAYS_PER_YEAR, KIND_PRIORITY, Absence, AbsenceKind,
                            LeaveBalance, period_errors)
from models.base import utcnow
from models.user import CrmUser, Department
from process.people import users_with_role
from rules.durations import public_holidays

SICK = AbsenceKind.sick.value
VACATION = AbsenceKind.vacation.value
DIRECTOR_ROLE = "director"
NO_SUBSTITUTE = "замены нет: согласование остаётся за ним"
# How a substitute is named: (nominative, dative) of their relation to the absent person.
DEPUTY = ("заместитель", "заместителю")
HEAD = ("руководитель отдела", "руководителю отдела")
DIRECTOR = ("директор", "директору")


# --- vacation days ----------------------------------------------------------------------

def local_today() -> dt.date:
    """Today in the office's time zone (TIMEZONE): at 01:00 in Moscow it is already the
    next day, while UTC is still on the previous one."""
    return to_local(utcnow()).date()


def _as_date(value) -> dt.date:
    return value.date() if isinstance(value, dt.datetime) else value


def _check_period(date_from, date_to) -> tuple[dt.date, dt.date]:
    date_from, date_to = _as_date(date_from), _as_date(date_to)
    errors = period_errors(date_from, date_to)
    if errors:
        raise FieldErrors(errors)
    return date_from, date_to


def vacation_days(date_from: dt.date, date_to: dt.date) -> int:
    """Calendar days from `date_from` to `date_to` (both included), less the non-working
    public holidays among them (Labour Code art. 120 with the holidays of art. 112). A day
    off moved by decree and a weekend count as vacation days. A period that is not two dates
    in order is refused (FieldErrors, in Russian)."""
    date_from, date_to = _check_period(date_from, date_to)
    days = (date_to - date_from).days + 1
    for year in range(date_from.year, date_to.year + 1):
        days -= sum(1 for day in public_holidays(year) if date_from <= day <= date_to)
    return days


def _clip(date_from: dt.date, date_to: dt.date, year: int) -> tuple[dt.date, dt.date] | None:
    start, end = max(date_from, dt.date(year, 1, 1)), min(date_to, dt.date(year, 12, 31))
    return (start, end) if start <= end else None


# --- registering ----------------------------------------------------------------------------

def _kind_value(kind) -> str:
    value = kind.value if isinstance(kind, AbsenceKind) else kind
    if value not in ABSENCE_KIND_LABELS:
        raise FieldErrors({"kind": "Неизвестный вид отсутствия «" + str(kind) + "»: "
                                   + ", ".join(ABSENCE_KIND_LABELS)})
    return value


def _by_source(source_entity: str, source_id: int) -> Absence | None:
    return db.session.scalar(select(Absence).where(Absence.source_entity == source_entity,
                                                   Absence.source_id == source_id))


def register_absence(user_id: int, kind: str | AbsenceKind, date_from: dt.date,
                     date_to: dt.date, source_entity: str | None = None,
                     source_id: int | None = None, comment: str | None = None) -> Absence:
    """The absence of `user_id` from `date_from` to `date_to` (both included). With a
    source (the request that grants it) there is one absence per source: registering again
    returns that absence, brought to the values given (a request approved anew after a
    change of dates), and a concurrent registration of the same source writes once. Flushes;
    the caller commits. Bad input raises FieldErrors with Russian messages."""
    kind = _kind_value(kind)
    date_from, date_to = _check_period(date_from, date_to)
    if (source_entity is None) != (source_id is None):
        raise FieldErrors({"source_id": "Заявка-основание: укажите и тип, и номер, или ничего"})
    if db.session.get(CrmUser, user_id) is None:
        raise FieldErrors({"user": f"Сотрудник № {user_id} не найден"})
    values = {"user_id": user_id, "kind": kind, "date_from": date_from, "date_to": date_to,
              "comment": comment}
    if source_entity is not None:
        existing = _by_source(source_entity, source_id)
        if existing is not None:
            return _update(existing, values)
    absence = Absence(source_entity=source_entity, source_id=source_id, **values)
    try:
        with db.session.begin_nested():
            db.session.add(absence)
            db.session.flush()
    except IntegrityError:
        # Another transaction registered the same request between our look and our write.
        existing = _by_source(source_entity, source_id) if source_entity is not None else None
        if existing is None:
            raise
        return _update(existing, values)
    return absence


def _update(absence: Absence, values: dict) -> Absence:
    for name, value in values.items():
        if getattr(absence, name) != value:
            setattr(absence, name, value)
    db.session.flush()
    return absence


def cancel_absence(source_entity: str, source_id: int) -> bool:
    """Removes the absence the request registered (the request was withdrawn or refused
    after approval); True when there was one. Flushes; the caller commits."""
    absence = _by_source(source_entity, source_id)
    if absence is None:
        return False
    db.session.delete(absence)
    db.session.flush()
    return True


# --- who is away ----------------------------------------------------------------------------

def _first(absences: Iterable[Absence]) -> Absence | None:
    """The absence a day shows when several overlap: by KIND_PRIORITY, then the one that
    lasts longer."""
    ranked = sorted(absences, key=lambda a: (KIND_PRIORITY.index(a.kind)
                                             if a.kind in KIND_PRIORITY else len(KIND_PRIORITY),
                                             -a.date_to.toordinal(), a.id or 0))
    return ranked[0] if ranked else None


def absent_user_ids(user_ids: Iterable[int], day: dt.date) -> dict[int, Absence]:
    """{user id: the absence that takes them away on `day`} for those of `user_ids` who are
    away, in one query. Work from home is no absence here: that person is at work."""
    ids = {int(i) for i in user_ids if i is not None}
    if not ids:
        return {}
    day = _as_date(day)
    rows = db.session.scalars(select(Absence).where(
        Absence.user_id.in_(ids), Absence.kind.in_(AWAY_KINDS),
        Absence.date_from <= day, Absence.date_to >= day))
    found: dict[int, list[Absence]] = {}
    for row in rows:
        found.setdefault(row.user_id, []).append(row)
    return {user_id: _first(rows) for user_id, rows in found.items()}


def absent_on(user_id: int, day: dt.date) -> Absence | None:
    """The absence that takes `user_id` away on `day`, or None when they are at work."""
    return absent_user_ids([user_id], day).get(user_id)


def absences_between(user_ids: Iterable[int] | None, date_from: dt.date,
                     date_to: dt.date) -> list[Absence]:
    """Every absence (of `user_ids`, or of everyone for None) touching the period, in one
    query: the calendar's month."""
    stmt = select(Absence).where(Absence.date_from <= date_to, Absence.date_to >= date_from)
    if user_ids is not None:
        ids = {int(i) for i in user_ids}
        if not ids:
            return []
        stmt = stmt.where(Absence.user_id.in_(ids))
    return list(db.session.scalars(stmt.order_by(Absence.date_from, Absence.id)))


# --- who substitutes ------------------------------------------------------------------------

def short_name(user) -> str:
    """«Иванов И. И.»: the last name and the initials of the first name (and patronymic)."""
    initials = " ".join(f"{part[0]}." for part in (user.first_name or "").split() if part)
    return " ".join(p for p in ((user.last_name or "").strip(), initials) if p) \
        or user.username


def away_words(absence: Absence) -> str:
    """«отпуск по 12.12.2026»; a sick leave is only «по 12.12.2026»: the approval history is
    read by people who may not know why the person is away."""
    until = f"по {format_date(absence.date_to)}"
    if absence.kind == SICK:
        return until
    return f"{ABSENCE_KIND_LABELS[absence.kind].lower()} {until}"


def _hops(person: CrmUser, directors: list) -> list[tuple[CrmUser, tuple[str, str]]]:
    """Whom `person`'s work goes to, in order: the deputy, the head of the department
    (unless that is the person), the directors."""
    hops = []
    if person.deputy_id:
        deputy = db.session.get(CrmUser, person.deputy_id)
        if deputy is not None:
            hops.append((deputy, DEPUTY))
    department = db.session.get(Department, person.department_id) \
        if person.department_id else None
    if department is not None and department.head_id and department.head_id != person.id:
        head = db.session.get(CrmUser, department.head_id)
        if head is not None:
            hops.append((head, HEAD))
    hops += [(director, DIRECTOR) for director in directors]
    return hops


def substitute_for(user_id: int, day: dt.date) -> tuple[int, str | None]:
    """Who acts for `user_id` on `day`: (user_id, None) when they are at work. When they
    are away: their deputy if set, active and not away; else the head of their department
    (if they are not the head themselves); else the first director at work. Each of these
    who is away too is followed in turn (their deputy, their head...), nobody twice, so
    mutual deputies end. The text says why, in Russian, for the approval history:
    «Иванов И. отсутствует (отпуск по 12.12.2026), передано заместителю: Петров П.». When
    nobody is at work the work stays with `user_id` and the text says so. A deactivated
    user (who has left) is treated as away."""
    day = _as_date(day)
    user = db.session.get(CrmUser, user_id)
    if user is None:
        return user_id, None
    absence = absent_on(user_id, day)
    if absence is None and user.active:
        return user_id, None
    parts = [f"{short_name(user)} отсутствует ({away_words(absence)})" if absence is not None
             else f"{short_name(user)} (учётная запись отключена)"]
    directors = users_with_role(DIRECTOR_ROLE)
    seen = {user.id}
    queue = deque([user])
    while queue:
        hops = []
        for candidate, words in _hops(queue.popleft(), directors):
            if candidate.id not in seen and candidate.active:
                seen.add(candidate.id)
                hops.append((candidate, words))
        away = absent_user_ids([c.id for c, _words in hops], day)
        for candidate, (nominative, dative) in hops:
            if candidate.id not in away:
                parts.append(f"передано {dative}: {short_name(candidate)}")
                return candidate.id, ", ".join(parts)
            parts.append(f"{nominative} {short_name(candidate)} тоже отсутствует "
                         f"({away_words(away[candidate.id])})")
            queue.append(candidate)
    parts.append(NO_SUBSTITUTE)
    return user_id, ", ".join(parts)


# --- leave balances -------------------------------------------------------------------------

def used_vacation_days(user_ids: Iterable[int], year: int,
                       exclude: Absence | None = None) -> dict[int, int]:
    """{user id: vacation days used in `year`} in one query: the vacations of that year,
    a vacation across New Year counted in each year for its own days."""
    ids = {int(i) for i in user_ids}
    used = dict.fromkeys(ids, 0)
    if not ids:
        return used
    start, end = dt.date(year, 1, 1), dt.date(year, 12, 31)
    stmt = select(Absence).where(Absence.user_id.in_(ids), Absence.kind == VACATION,
                                 Absence.date_from <= end, Absence.date_to >= start)
    if exclude is not None and exclude.id is not None:
        stmt = stmt.where(Absence.id != exclude.id)
    for absence in db.session.scalars(stmt):
        part = _clip(absence.date_from, absence.date_to, year)
        if part:
            used[absence.user_id] += vacation_days(*part)
    return used


def balances(user_ids: Iterable[int], year: int,
             exclude: Absence | None = None) -> dict[int, dict[str, int]]:
    """{user id: balance(user, year)} for many people in two queries (the screen's page)."""
    ids = {int(i) for i in user_ids}
    if not ids:
        return {}
    rows = {row.user_id: row for row in db.session.scalars(select(LeaveBalance).where(
        LeaveBalance.user_id.in_(ids), LeaveBalance.year == year))}
    used = used_vacation_days(ids, year, exclude)
    out = {}
    for user_id in ids:
        row = rows.get(user_id)
        days = row.days_per_year if row else DEFAULT_DAYS_PER_YEAR
        carried = row.carried_over if row else 0
        adjustment = row.adjustment if row else 0
        out[user_id] = {"days_per_year": days, "carried_over": carried,
                        "adjustment": adjustment, "used": used[user_id],
                        "remaining": days + carried + adjustment - used[user_id]}
    return out


def balance(user_id: int, year: int) -> dict[str, int]:
    """{days_per_year, carried_over, adjustment, used, remaining} of `user_id` in `year`.
    Without a stored balance: 28 days, nothing carried over, no correction."""
    return balances([user_id], year)[int(user_id)]


def spend_check(user_id: int, date_from: dt.date, date_to: dt.date, *,
                source_entity: str | None = None, source_id: int | None = None) -> str | None:
    """None when `user_id` has the days for a vacation from `date_from` to `date_to`, else
    the refusal in Russian: «Недостаточно дней отпуска: осталось 5, запрошено 14». A
    vacation across New Year is checked against each year's balance. `source_entity` and
    `source_id` name the request asking: its own absence, if already registered, is not
    counted as used (a request checked again after a change of dates)."""
    try:
        date_from, date_to = _check_period(date_from, date_to)
    except CrmError as exc:
        return exc.message
    own = _by_source(source_entity, source_id) if source_entity is not None else None
    years = range(date_from.year, date_to.year + 1)
    for year in years:
        requested = vacation_days(*_clip(date_from, date_to, year))
        remaining = balances([user_id], year, exclude=own)[int(user_id)]["remaining"]
        if requested > remaining:
            which = f" на {year} год" if len(years) > 1 else ""
            return (f"Недостаточно дней отпуска{which}: осталось {max(remaining, 0)}, "
                    f"запрошено {requested}")
    return None


# --- who may know what ----------------------------------------------------------------------

def _signed_in(user) -> bool:
    return user is not None and bool(getattr(user, "is_authenticated", False))


def _roles(user) -> set[str]:
    return {r.name for r in getattr(user, "roles", None) or ()}


def headed_user_ids(user) -> set[int]:
    """The user and the members of the departments the user heads (Department.head_id)."""
    headed = select(Department.id).where(Department.head_id == user.id)
    return {user.id} | set(db.session.scalars(
        select(CrmUser.id).where(CrmUser.department_id.in_(headed))))


def _per_request(key: str, user, compute):
    if not has_request_context():
        return compute()
    known = request.environ.setdefault(key, {})
    if user.id not in known:
        known[user.id] = compute()
    return known[user.id]


def kind_readers(viewer) -> set[int] | None:
    """Whose sick leaves `viewer` sees as sick leaves: the ids of those people, or None for
    everyone's (the `personnel` roles of the access table). Others see their own and those
    of the departments they head; to them anyone else's sick day is «Отсутствует»."""
    if not _signed_in(viewer):
        return set()
    if _roles(viewer) & personnel_roles():
        return None
    return _per_request("crm.absence_kind_readers", viewer, lambda: headed_user_ids(viewer))


def kind_shown(absence: Absence, readers: set[int] | None) -> bool:
    """The viewer whose `kind_readers` these are may know the absence's kind."""
    return absence.kind != SICK or readers is None or absence.user_id in readers


def kind_text(absence: Absence, readers: set[int] | None) -> str:
    """The kind as the viewer may read it: «Больничный» or «Отсутствует»."""
    return absence.kind_label if kind_shown(absence, readers) else ABSENT_LABEL


def balance_readers(viewer) -> set[int] | None:
    """Whose leave balances `viewer` sees: None for everyone's (the `personnel` roles and
    the admin), else their own and those of the departments they head."""
    if not _signed_in(viewer):
        return set()
    admin = current_app.config.get("AUTH_ROLE_ADMIN", "admin") if has_app_context() \
        else "admin"
    if _roles(viewer) & (personnel_roles() | {admin}):
        return None
    return _per_request("crm.balance_readers", viewer, lambda: headed_user_ids(viewer))


__all__ = ["local_today", "vacation_days", "register_absence", "cancel_absence", "absent_on",
           "absent_user_ids", "absences_between", "substitute_for", "balance", "balances",
           "used_vacation_days", "spend_check", "short_name", "away_words", "kind_readers",
           "kind_shown", "kind_text", "balance_readers", "headed_user_ids"]
