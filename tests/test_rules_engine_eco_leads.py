"""The engine core on the shipped eco-packaging lead pipeline (seed 002)."""
import datetime as dt
from pathlib import Path

from errors import MissingFields
from rules.definition import load_file
from rules.engine import plan_field_change, plan_move, why_not
from tests.rules_catalog import CATALOG

LEADS = load_file(Path(__file__).parents[1] / "rules/definitions/002_leads.yaml", CATALOG)
NOW = dt.datetime(2026, 11, 3, 10, 0)  # Tuesday before Unity Day (4.11)
PROCESSED = {"title": "Заявка с сайта", "client_activity": "retail",
             "company_name": "ООО «Эко Пак»", "company_short_name": "Эко Пак",
             "decision_maker": "Иванов Иван Иванович", "company_contacts": "+7 495 000-00-00",
             "decision_maker_contacts": "ivanov@ecopak.ru",
             "company_postal_address": "Москва, ул. Лесная, 1",
             "decision_maker_postal_address": "Москва, ул. Лесная, 1"}


def test_stages_follow_the_seed():
    assert [s.name for s in LEADS.stages] == [
        "Новый лид", "Холодный звонок", "Звонок-знакомство", "Обработка запроса",
        "Качественный лид", "Некачественный"]
    assert [s.kind for s in LEADS.stages][-2:] == ["won", "lost"]


def test_new_lead_notifies_and_cold_call_creates_the_presale_call():
    notify = plan_move(LEADS, None, "new", {"title": "Заявка с сайта"}, "l0", NOW).effects[0]
    assert (notify.action, notify.params["text"]) == ("notify", "Новый лид «Заявка с сайта»")
    plan = plan_move(LEADS, "new", "cold_call", {"title": "Заявка с сайта",
                                                  "phone": "+7 900", "email": "a@b.ru"},
                     "l1", NOW)
    task, = plan.effects
    assert task.params["title"] == "Совершить предпродажный звонок клиенту"
    assert (task.params["assignee"], task.params["creator"]) == ("responsible", "actor")
    assert task.due_at == dt.datetime(2026, 11, 5, 10, 0)  # 4.11 is a holiday


def test_intro_call_needs_what_the_client_does_or_other_with_text():
    err = why_not(LEADS, "cold_call", "intro_call", {"title": "x"})
    assert err.message == ("Нельзя перейти на этап «Звонок-знакомство»: не заполнено поле "
                           "«Вид деятельности»")
    err = why_not(LEADS, "cold_call", "intro_call", {"client_activity": "other"})
    assert list(err.errors) == ["activity_other"]
    assert why_not(LEADS, "cold_call", "intro_call",
                   {"client_activity": "other", "activity_other": "Кофейни"}) is None


def test_request_processing_requires_company_and_decision_maker_data():
    err = why_not(LEADS, "intro_call", "processing", {"client_activity": "retail"})
    assert isinstance(err, MissingFields)
    assert err.message == (
        "Нельзя перейти на этап «Обработка запроса»: не заполнены поля «Компания», "
        "«Сокращенное наименование компании», «ФИО ЛПР», «Контактные данные компании», "
        "«Контактные данные ЛПР», «Почтовый адрес компании», «Почтовый адрес ЛПР»")
    task, = plan_move(LEADS, "intro_call", "processing", PROCESSED, "l2", NOW).effects
    assert task.params["title"] == "Проверка качественного лида"
    assert task.params["fields"] == ["is_quality"]


def test_quality_yes_converts_the_lead():
    old = {**PROCESSED, "is_quality": None}
    effects = plan_field_change(LEADS, {**old, "is_quality": True}, old, "q1", NOW,
                                stage_key="processing")
    assert [(e.action, e.params) for e in effects] == [("move_stage", {"to": "converted"})]
    convert, = plan_move(LEADS, "processing", "converted", {**old, "is_quality": True},
                         "q2", NOW).effects
    assert (convert.action, convert.params) == ("convert_lead", {"pipeline": "eco_deals"})


def test_quality_no_sends_the_lead_to_bad_with_a_reason():
    old = {**PROCESSED, "is_quality": None}
    effects = plan_field_change(LEADS, {**old, "is_quality": False}, old, "q3", NOW,
                                stage_key="processing")
    assert [(e.action, e.params) for e in effects] == [("move_stage", {"to": "bad"})]
    err = why_not(LEADS, "processing", "bad", {**old, "is_quality": False})
    assert err.message == ("Нельзя перейти на этап «Некачественный»: не заполнено поле "
                           "«Причина некачественного лида»")
    other = {**old, "is_quality": False, "quality_reason": "other"}
    assert list(why_not(LEADS, "processing", "bad", other).errors) == ["quality_comment"]
    assert why_not(LEADS, "processing", "bad", {**other, "quality_comment": "Студент"}) is None


def test_quality_flag_outside_request_processing_does_nothing():
    old = {**PROCESSED, "is_quality": None}
    assert plan_field_change(LEADS, {**old, "is_quality": True}, old, "q4", NOW,
                             stage_key="intro_call") == ()
