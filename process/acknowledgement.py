"""«Ознакомление» (seed 002's office process): a head attaches a document or a link to it,
names the people and departments who must read it and the deadline; each of them confirms
«Ознакомлен(а)»; those who have not are reminded a working day before the deadline and at
it.

Who may do what (the rights are in app/access.yaml, the rows here):
- launch: whoever has the write right on `acknowledgement` (the heads, the director, the
  admin). A head may address anyone, not only the own department, as in Bitrix24: the
  office asked for a simple rule, and a head handing the fire-safety order to the
  accountants is ordinary.
- open the document and its files: its recipients, its author, the director and the admin
  (`may_open`), nobody else whatever their scope;
- confirm: its recipients only, each for themselves;
- see who has and who has not, and close it: the author, the director and the admin.

Everything a launch decides is written in its transaction: the rows, the files, one outbox
notification for the recipients and two schedule rows (the reminder and the deadline). The
jobs run those rows (jobs/actions.py); each notice is keyed by its row, so a row run twice
tells nobody twice, and each tells only those who have not confirmed by then."""
from __future__ import annotations

import datetime as dt

from flask import current_app
from sqlalchemy import func, select, update

from app.attachments import attachments_of, check_name, discard_file, save_upload
from app.extensions import db
from app.formatting import format_datetime, to_local, to_utc
from app.notify import notify_users
from errors import AccessDenied, CrmError, FieldErrors, UploadRefused
from models.acknowledgement import (DESCRIPTION_MAX, TITLE_MAX, Acknowledgement,
                                    AcknowledgementRecipient, AcknowledgementStatus,
                                    link_error)
from models.base import utcnow
from models.outbox import OutboxKind, OutboxMessage
from models.schedule import ScheduledAction, ScheduleStatus
from models.user import CrmUser, Department
from rules.durations import Duration, add_duration

ENTITY = Acknowledgement.__entity__
REMINDER_ACTION = "acknowledgement_reminder"
DEADLINE_ACTION = "acknowledgement_deadline"
# The reminder comes this long before the deadline, on the office's working calendar
# (a Monday deadline is reminded on Friday, at the deadline's clock time).
REMIND_BEFORE = Duration(-1, "working_days")
# Who sees every document besides its author and recipients (the admin role is the
# configured AUTH_ROLE_ADMIN).
OVERSEER_ROLES = frozenset({"director"})
# A deadline further than this is a typo (year 2206), not a plan.
LONGEST = dt.timedelta(days=5 * 366)

NOT_RECIPIENT = ("Подтвердить ознакомление может только тот, кому документ адресован: "
                 "вас нет в списке ознакомления с этим документом")
NO_ACCESS = ("Документ открывают только те, кому он адресован, его автор, директор и "
             "администратор")
NO_MANAGE = "Закрыть ознакомление может только его автор, директор или администратор"
CLOSED = "Ознакомление закрыто: подтверждения больше не принимаются"
NO_TITLE = "Укажите название документа"
TITLE_TOO_LONG = f"Название слишком длинное: не больше {TITLE_MAX} символов"
DESCRIPTION_TOO_LONG = f"Описание слишком длинное: не больше {DESCRIPTION_MAX} символов"
NO_DOCUMENT = "Прикрепите файл документа или укажите ссылку на него"
NO_DEADLINE = "Укажите срок ознакомления"
PAST_DEADLINE = "Срок ознакомления должен быть в будущем"
FAR_DEADLINE = "Срок ознакомления не может быть дальше чем через пять лет"
NO_RECIPIENTS = "Выберите сотрудников или отделы, которые должны ознакомиться с документом"
EMPTY_DEPARTMENTS = ("В выбранных отделах нет работающих сотрудников (кроме вас): выберите "
                     "сотрудников или другие отделы")
UNKNOWN_USERS = "Сотрудник не найден или уволен: выберите его заново"
UNKNOWN_DEPARTMENTS = "Отдел не найден или закрыт: выберите его заново"


class AcknowledgementClosed(CrmError):
    http_status = 409

    def __init__(self, message: str = CLOSED):
        super().__init__(message)


# --- who may do what ---------------------------------------------------------------------

def _role_names(user) -> set[str]:
    return {r.name for r in getattr(user, "roles", None) or ()}


def is_overseer(user) -> bool:
    """The director and the admin see every document and its table."""
    admin = current_app.config.get("AUTH_ROLE_ADMIN", "Admin")
    return bool(_role_names(user) & (OVERSEER_ROLES | {admin}))


def recipient_row(ack: Acknowledgement, user_id: int | None):
    if not user_id:
        return None
    return db.session.scalar(select(AcknowledgementRecipient).where(
        AcknowledgementRecipient.acknowledgement_id == ack.id,
        AcknowledgementRecipient.user_id == user_id))


def may_manage(ack: Acknowledgement, user) -> bool:
    return user is not None and (ack.author_id == user.id or is_overseer(user))


def may_open(ack: Acknowledgement, user) -> bool:
    if user is None:
        return False
    return may_manage(ack, user) or recipient_row(ack, user.id) is not None


# --- the launch --------------------------------------------------------------------------

def _ids(values) -> tuple[list[int], bool]:
    """(the ids, once each; whether every value was one): an empty value is no choice, a
    value that is no id names nobody and is refused as unknown."""
    out, valid = [], True
    for value in values or ():
        if value in ("", None):
            continue
        try:
            number = int(value)
        except (TypeError, ValueError):
            valid = False
            continue
        if not 0 < number < 2 ** 31:
            valid = False
        elif number not in out:
            out.append(number)
    return out, valid


def _active_users(ids) -> list[int]:
    if not ids:
        return []
    return list(db.session.scalars(select(CrmUser.id).where(
        CrmUser.id.in_(ids), CrmUser.active.is_(True))))


def _departments(ids) -> list[Department]:
    if not ids:
        return []
    return list(db.session.scalars(select(Department).where(
        Department.id.in_(ids), Department.active.is_(True)).order_by(Department.name)))


def _members(departments) -> list[int]:
    if not departments:
        return []
    return list(db.session.scalars(select(CrmUser.id).where(
        CrmUser.department_id.in_([d.id for d in departments]),
        CrmUser.active.is_(True)).order_by(CrmUser.id)))


def recipients_of(author_id: int, user_ids, departments) -> list[int]:
    """The people chosen by name and the active members of the chosen departments, once
    each; the author reads what they wrote and is never asked to confirm it."""
    people = sorted(set(_active_users(_ids(user_ids)[0])) | set(_members(departments)))
    return [p for p in people if p != author_id]


def reminder_at(deadline: dt.datetime) -> dt.datetime:
    """The reminder's time (naive UTC) for a deadline (naive UTC)."""
    local = to_local(deadline).replace(tzinfo=None)
    return to_utc(add_duration(local, REMIND_BEFORE))


def _check(title, description, link, deadline, has_files, now) -> dict[str, str]:
    errors = {}
    if not title:
        errors["title"] = NO_TITLE
    elif len(title) > TITLE_MAX:
        errors["title"] = TITLE_TOO_LONG
    if len(description) > DESCRIPTION_MAX:
        errors["description"] = DESCRIPTION_TOO_LONG
    problem = link_error(link)
    if problem:
        errors["link"] = problem
    elif not link and not has_files:
        errors["files"] = NO_DOCUMENT
    if deadline is None:
        errors["deadline"] = NO_DEADLINE
    elif deadline <= now:
        errors["deadline"] = PAST_DEADLINE
    elif deadline - now > LONGEST:
        errors["deadline"] = FAR_DEADLINE
    return errors


def _check_people(author_id, user_ids, department_ids):
    """(recipient ids, departments, errors)."""
    errors = {}
    (wanted_users, users_valid), (wanted_departments, departments_valid) = \
        _ids(user_ids), _ids(department_ids)
    if not users_valid or len(_active_users(wanted_users)) != len(wanted_users):
        errors["users"] = UNKNOWN_USERS
    departments = _departments(wanted_departments)
    if not departments_valid or len(departments) != len(wanted_departments):
        errors["departments"] = UNKNOWN_DEPARTMENTS
    people = recipients_of(author_id, wanted_users, departments)
    if not errors and not people:
        if departments:
            errors["departments"] = EMPTY_DEPARTMENTS
        else:
            errors["users"] = NO_RECIPIENTS
    return people, departments, errors


def launch(*, author_id: int, title: str, description: str = "", link: str | None = None,
           deadline: dt.datetime | None, user_ids=(), department_ids=(), files=(),
           now: dt.datetime | None = None) -> Acknowledgement:
    """Checks everything, then writes the document, its files, its recipients, their
    notification and its two schedule rows into the session; the caller commits.

    `deadline` is naive UTC; `files` are (stream, file name, content type). Refusals raise
    FieldErrors by field (title, description, link, files, deadline, users, departments)
    having written nothing; files saved before a refused one leave the disk again. If the
    caller's commit fails, it removes the files (`files_of(ack)`, read before the commit)
    with `app.attachments.discard_file`."""
    now = now or utcnow()
    title = " ".join((title or "").split())
    description = (description or "").strip()
    link = (link or "").strip() or None
    files = [f for f in files or () if f[1]]
    errors = _check(title, description, link, deadline, bool(files), now)
    people, departments, people_errors = _check_people(author_id, user_ids, department_ids)
    errors.update(people_errors)
    for _stream, name, _type in files:
        try:
            check_name(name)
        except UploadRefused as exc:
            errors.setdefault("files", exc.message)
    if errors:
        raise FieldErrors(errors)

    ack = Acknowledgement(title=title, description=description, link=link, deadline=deadline,
                          author_id=author_id, departments=departments)
    ack.recipients = [AcknowledgementRecipient(user_id=p) for p in people]
    db.session.add(ack)
    db.session.flush()
    saved = []
    try:
        for stream, name, content_type in files:
            saved.append(save_upload(stream, name, ENTITY, ack.id, declared_type=content_type,
                                     user_id=author_id))
    except UploadRefused as exc:
        for attachment in saved:
            discard_file(attachment)
        raise FieldErrors({"files": exc.message}) from None
    except BaseException:
        for attachment in saved:
            discard_file(attachment)
        raise
    _announce(ack, people)
    _schedule(ack, now)
    return ack


def _announce(ack: Acknowledgement, people: list[int]) -> None:
    db.session.add(OutboxMessage(
        kind=OutboxKind.notification.value, recipients=people, subject=None,
        body=f"Ознакомьтесь с документом «{ack.title}» до {format_datetime(ack.deadline)} "
             f"и подтвердите: «Ознакомлен(а)»",
        entity=ENTITY, record_id=ack.id, effect_key=f"{ENTITY}:{ack.id}:launch"))


def _schedule(ack: Acknowledgement, now: dt.datetime) -> None:
    rows = [(DEADLINE_ACTION, ack.deadline)]
    remind = reminder_at(ack.deadline)
    # A deadline closer than a working day: the launch notice is the reminder.
    if remind > now:
        rows.insert(0, (REMINDER_ACTION, remind))
    for action, due in rows:
        db.session.add(ScheduledAction(
            action=action, params={}, entity=ENTITY, record_id=ack.id, due_at=due,
            outlives_stage=True, effect_key=f"{ENTITY}:{ack.id}:{action}"))


def files_of(ack: Acknowledgement) -> list:
    return attachments_of(ENTITY, ack.id)



# --- confirming and closing --------------------------------------------------------------

def confirm(ack: Acknowledgement, user_id: int | None,
            now: dt.datetime | None = None) -> tuple[AcknowledgementRecipient, bool]:
    """(the person's row, whether this call confirmed it). Confirming again is harmless:
    the first time stays. Two clicks at once set it once (the UPDATE asks for no time
    yet)."""
    row = recipient_row(ack, user_id)
    if row is None:
        raise AccessDenied(NOT_RECIPIENT)
    if row.confirmed_at is not None:
        return row, False
    if not ack.is_open:
        raise AcknowledgementClosed()
    table = AcknowledgementRecipient.__table__
    result = db.session.execute(update(table).where(
        table.c.id == row.id, table.c.confirmed_at.is_(None)).values(
        confirmed_at=now or utcnow()))
    db.session.refresh(row)
    return row, result.rowcount == 1


def close(ack: Acknowledgement, user, now: dt.datetime | None = None) -> bool:
    """Stops the reminders; the table stays as it is. False if it was closed already."""
    if not may_manage(ack, user):
        raise AccessDenied(NO_MANAGE)
    if not ack.is_open:
        return False
    now = now or utcnow()
    ack.status, ack.closed_at = AcknowledgementStatus.closed.value, now
    table = ScheduledAction.__table__
    db.session.execute(update(table).where(
        table.c.entity == ENTITY, table.c.record_id == ack.id,
        table.c.status.in_((ScheduleStatus.pending.value, ScheduleStatus.enqueued.value)))
        .values(status=ScheduleStatus.cancelled.value, done_at=now,
                last_error="Ознакомление закрыто"))
    return True


# --- what the jobs do --------------------------------------------------------------------

def unconfirmed_ids(ack: Acknowledgement) -> list[int]:
    return list(db.session.scalars(select(AcknowledgementRecipient.user_id).where(
        AcknowledgementRecipient.acknowledgement_id == ack.id,
        AcknowledgementRecipient.confirmed_at.is_(None)).order_by(
        AcknowledgementRecipient.user_id)))


def remind(ack: Acknowledgement, key: str, due_at: dt.datetime) -> int:
    """The reminder before the deadline, to those who have not confirmed yet."""
    return notify_users(
        unconfirmed_ids(ack),
        f"Напоминание: ознакомьтесь с документом «{ack.title}» до "
        f"{format_datetime(ack.deadline)} и подтвердите: «Ознакомлен(а)»",
        key=key, kind="reminder", entity=ENTITY, record_id=ack.id, due_at=due_at)


def deadline_passed(ack: Acknowledgement, key: str, due_at: dt.datetime) -> int:
    """At the deadline: those who have not confirmed are told, and the author learns how
    many they are."""
    people = unconfirmed_ids(ack)
    if not people:
        return 0
    told = notify_users(
        people, f"Срок ознакомления с документом «{ack.title}» истёк "
                f"({format_datetime(ack.deadline)}): ознакомьтесь и подтвердите",
        key=key, kind="overdue", entity=ENTITY, record_id=ack.id, due_at=due_at)
    total = db.session.scalar(select(func.count(AcknowledgementRecipient.id)).where(
        AcknowledgementRecipient.acknowledgement_id == ack.id)) or 0
    notify_users([ack.author_id],
                 f"Срок ознакомления с документом «{ack.title}» истёк: не ознакомлены "
                 f"{len(people)} из {total}", key=f"{key}:author", kind="overdue",
                 entity=ENTITY, record_id=ack.id, due_at=due_at)
    return told
