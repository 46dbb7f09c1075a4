"""Briefs: sending a questionnaire to the client of a record (a copy of its questions and a
client link), checking the client's answers, and keeping them once: the record's timeline
tells them in words, the responsible manager gets a letter and a notification."""
from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal, InvalidOperation

from sqlalchemy import select, update

from app.extensions import db
from app.formatting import to_local
from errors import CrmError, FieldErrors
from models.base import utcnow
from models.brief import Brief, Questionnaire
from models.outbox import OutboxKind, OutboxMessage
from models.registry import get_record
from models.timeline import add_timeline
from models.user import CrmUser
from process import client_links

TEXT_MAX, LONG_TEXT_MAX = 500, 5000
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
PHONE_CHARS = re.compile(r"^[+\d\s()\-.]+$")
YES, NO = "yes", "no"


class BriefRefused(CrmError):
    http_status = 422


def snapshot(questionnaire: Questionnaire) -> list[dict]:
    return [{"key": f"q{q.id}", "label": q.label, "kind": q.kind, "required": bool(q.required),
             "choices": q.choice_list, "hint": q.hint or ""}
            for q in questionnaire.questions]


def send(record, entity: str, questionnaire: Questionnaire,
         days: int = client_links.DEFAULT_DAYS):
    """A brief for the record's client: (brief, link, token)."""
    if questionnaire is None or not questionnaire.active:
        raise BriefRefused("Выберите действующую анкету")
    questions = snapshot(questionnaire)
    if not questions:
        raise BriefRefused(f"В анкете «{questionnaire.name}» нет вопросов")
    brief = Brief(entity=entity, record_id=record.id, questionnaire_id=questionnaire.id,
                  title=questionnaire.name, intro=questionnaire.intro, questions=questions)
    db.session.add(brief)
    db.session.flush()
    link, token = client_links.create_for_brief(brief, days)
    add_timeline(entity, record.id, "system",
                 f"Клиенту подготовлена анкета «{brief.title}» (ссылка действует до "
                 f"{to_local(link.expires_at):%d.%m.%Y})", payload={"brief": brief.id})
    return brief, link, token


# --- the client's answers --------------------------------------------------------------

def _one(question: dict, raw):
    """The value kept for one answer, or ValueError with the Russian message."""
    kind = question["kind"]
    if kind == "multichoice":
        values = [v for v in (raw or []) if v]
        if not values:
            if question["required"]:
                raise ValueError("Выберите хотя бы один вариант")
            return None
        if any(v not in question["choices"] for v in values):
            raise ValueError("Выберите варианты из списка")
        return [c for c in question["choices"] if c in values]
    text = (raw or "").strip()
    if not text:
        if question["required"]:
            raise ValueError("Выберите вариант" if kind in ("choice", "yesno")
                             else "Заполните это поле")
        return None
    if kind == "text" and len(text) > TEXT_MAX:
        raise ValueError(f"Не больше {TEXT_MAX} символов")
    if kind == "textarea" and len(text) > LONG_TEXT_MAX:
        raise ValueError(f"Не больше {LONG_TEXT_MAX} символов")
    if kind == "number":
        try:
            number = Decimal(text.replace(" ", "").replace("\u00a0", "").replace(",", "."))
        except InvalidOperation:
            raise ValueError("Введите число, например 1500 или 12,5") from None
        if not number.is_finite() or abs(number) >= Decimal("1e15"):
            raise ValueError("Введите число, например 1500 или 12,5")
        return str(number)
    if kind == "date":
        for fmt in ("%Y-%m-%d", "%d.%m.%Y"):
            try:
                return dt.datetime.strptime(text, fmt).date().isoformat()
            except ValueError:
                continue
        raise ValueError("Введите дату в формате ДД.ММ.ГГГГ")
    if kind == "choice" and text not in question["choices"]:
        raise ValueError("Выберите вариант из списка")
    if kind == "yesno":
        if text not in (YES, NO):
            raise ValueError("Выберите «Да» или «Нет»")
        return text == YES
    if kind == "email" and (len(text) > 200 or not EMAIL.match(text)):
        raise ValueError("Введите адрес электронной почты, например ivanov@example.ru")
    if kind == "phone":
        digits = re.sub(r"\D", "", text)
        if not PHONE_CHARS.match(text) or not 10 <= len(digits) <= 15:
            raise ValueError("Введите номер телефона, например +7 900 123-45-67")
    return text[:LONG_TEXT_MAX]


def check_answers(brief: Brief, form) -> dict:
    """{key: value} from the posted form (a MultiDict), or FieldErrors {key: message}."""
    answers, errors = {}, {}
    for question in brief.questions:
        key = question["key"]
        raw = form.getlist(key) if question["kind"] == "multichoice" else form.get(key)
        try:
            answers[key] = _one(question, raw)
        except ValueError as exc:
            errors[key] = str(exc)
    if errors:
        raise FieldErrors(errors)
    return answers


def shown(question: dict, value) -> str:
    if value is None or value == []:
        return "—"
    if question["kind"] == "yesno":
        return "Да" if value else "Нет"
    if question["kind"] == "multichoice":
        return ", ".join(value)
    if question["kind"] == "date":
        return dt.date.fromisoformat(value).strftime("%d.%m.%Y")
    if question["kind"] == "number":
        return str(value).replace(".", ",")
    return str(value)


def answer_lines(brief: Brief) -> list[tuple[str, str]]:
    answers = brief.answers or {}
    return [(q["label"], shown(q, answers.get(q["key"]))) for q in brief.questions]


def submit(brief: Brief, answers: dict) -> None:
    """Keeps the answers once: a second submission (another tab, a double click) is
    refused and never overwrites the first."""
    now = utcnow()
    table = Brief.__table__
    saved = db.session.execute(update(table).where(
        table.c.id == brief.id, table.c.submitted_at.is_(None))
        .values(answers=answers, submitted_at=now)).rowcount == 1
    if not saved:
        raise BriefRefused("Анкета уже заполнена")
    db.session.expire(brief, ["answers", "submitted_at"])
    words = "\n".join(f"{label}: {value}" for label, value in answer_lines(brief))
    text = f"Клиент заполнил анкету «{brief.title}»"
    add_timeline(brief.entity, brief.record_id, "system", f"{text}:\n{words}",
                 payload={"brief": brief.id}, author_id=0)
    record = get_record(brief.entity, brief.record_id)
    responsible = db.session.get(CrmUser, getattr(record, "responsible_id", None) or 0)
    if responsible is None:
        return
    db.session.add(OutboxMessage(
        kind=OutboxKind.notification.value, recipients=[responsible.id], body=text,
        entity=brief.entity, record_id=brief.record_id, effect_key=f"brief-filled:{brief.id}"))
    if responsible.email:
        db.session.add(OutboxMessage(
            kind=OutboxKind.email.value, recipients=[responsible.email],
            subject="Клиент заполнил анкету",
            body=f"{text} по записи «{record}».\n\n{words}", entity=brief.entity,
            record_id=brief.record_id, effect_key=f"brief-filled-mail:{brief.id}"))


def briefs_of(entity: str, record_id: int) -> list[Brief]:
    return list(db.session.scalars(select(Brief).where(
        Brief.entity == entity, Brief.record_id == record_id).order_by(Brief.id.desc())))

