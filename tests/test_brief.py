"""Briefs end to end: the admin builds a questionnaire, the manager sends it on a deal, the
client fills it by link (a wrong value: a Russian message at the field, the input kept),
the answers land on the deal and the manager gets a letter; a second submission is refused
and changes nothing; editing the questionnaire later does not change a sent brief."""
from __future__ import annotations

from sqlalchemy import func, select

from app.extensions import db
from models.brief import Brief, Questionnaire, QuestionnaireQuestion
from models.outbox import OutboxMessage
from models.timeline import TimelineEntry
from tests.client_link_helpers import LINK_RE
from tests.test_pipeline_fixtures import make_deal, make_pipeline

QUESTIONS = [
    ("Название компании", "text", True, ""),
    ("Тираж, шт.", "number", True, ""),
    ("Желаемая дата поставки", "date", False, ""),
    ("Материал", "choice", True, "Крафт\nКартон\nПластик"),
    ("Нужна печать", "multichoice", False, "Логотип\nПолноцвет"),
    ("Нужен дизайн", "yesno", True, ""),
    ("E-mail для макетов", "email", False, ""),
    ("Телефон", "phone", False, ""),
    ("Комментарий", "textarea", False, ""),
]


def _build(admin) -> Questionnaire:
    resp = admin.post("/questionnaireview/add", data={"name": "Бриф на упаковку",
                                                     "intro": "Ответьте, пожалуйста",
                                                     "active": "y"})
    assert resp.status_code == 302, resp.get_data(as_text=True)[:500]
    questionnaire = db.session.scalar(select(Questionnaire))
    for order, (label, kind, required, choices) in enumerate(QUESTIONS):
        data = {"questionnaire": str(questionnaire.id), "sort_order": str(order * 10),
                "label": label, "kind": kind, "choices": choices}
        if required:
            data["required"] = "y"
        resp = admin.post("/questionview/add", data=data)
        assert resp.status_code == 302, (label, resp.get_data(as_text=True)[:300])
    db.session.expire_all()
    return db.session.get(Questionnaire, questionnaire.id)


def _keys(brief) -> dict[str, str]:
    return {q["label"]: q["key"] for q in brief.questions}


def test_a_choice_question_needs_its_variants(app, login):
    admin = login("admin")
    _build(admin)
    questionnaire = db.session.scalar(select(Questionnaire))
    resp = admin.post("/questionview/add", data={
        "questionnaire": str(questionnaire.id), "sort_order": "5", "label": "Цвет",
        "kind": "choice", "choices": "Белый"})
    assert resp.status_code == 200
    assert "не меньше двух вариантов" in resp.get_data(as_text=True)
    assert db.session.scalar(select(func.count()).select_from(QuestionnaireQuestion)) == \
        len(QUESTIONS)


def test_only_the_admin_builds_questionnaires(app, login):
    assert login("manager").get("/questionnaireview/list/").status_code in (302, 403)
    assert login("manager").post("/questionnaireview/add",
                                 data={"name": "x"}).status_code in (302, 403)
    assert db.session.scalar(select(func.count()).select_from(Questionnaire)) == 0


def test_the_brief_end_to_end(app, login):
    admin = login("admin")
    questionnaire = _build(admin)
    deal = make_deal("Упаковка для пекарни", "manager", make_pipeline())
    manager = login("manager")
    resp = manager.post(f"/crm/briefs/send/deal/{deal.id}",
                        data={"questionnaire_id": str(questionnaire.id), "days": "14"})
    assert resp.status_code == 302
    [brief] = db.session.scalars(select(Brief))
    assert [q["label"] for q in brief.questions] == [q[0] for q in QUESTIONS]
    page = manager.get(f"/dealview/show/{deal.id}").get_data(as_text=True)
    assert "Отправить анкету" in page and "ещё не заполнена" in page
    [(_link_id, path)] = LINK_RE.findall(page)

    # The admin edits the questionnaire afterwards: the sent brief keeps its questions.
    first = questionnaire.questions[0]
    first.label = "Другой вопрос"
    db.session.commit()

    client = login(None)
    form = client.get(path).get_data(as_text=True)
    assert "Анкета «Бриф на упаковку»" in form and "Название компании" in form
    assert "Другой вопрос" not in form
    keys = _keys(brief)
    bad = {keys["Название компании"]: "ООО «Хлеб»", keys["Тираж, шт."]: "много",
           keys["Желаемая дата поставки"]: "31.02.2027", keys["Материал"]: "Крафт",
           keys["Нужен дизайн"]: "yes", keys["E-mail для макетов"]: "не почта",
           keys["Телефон"]: "12"}
    resp = client.post(path, data=bad)
    assert resp.status_code == 422
    html = resp.get_data(as_text=True)
    for message in ("Введите число", "Введите дату в формате ДД.ММ.ГГГГ",
                    "Введите адрес электронной почты", "Введите номер телефона"):
        assert message in html, message
    assert 'value="ООО «Хлеб»"' in html or "ООО &#34;Хлеб&#34;" in html or \
        "ООО «Хлеб»" in html
    assert 'value="много"' in html  # the input is kept
    db.session.expire_all()
    assert db.session.get(Brief, brief.id).submitted_at is None

    good = {**bad, keys["Тираж, шт."]: "5 000", keys["Желаемая дата поставки"]: "2027-02-15",
            keys["E-mail для макетов"]: "design@hleb.ru", keys["Телефон"]: "+7 900 123-45-67",
            keys["Нужна печать"]: ["Логотип", "Полноцвет"]}
    resp = client.post(path, data=good)
    assert resp.status_code == 200, resp.get_data(as_text=True)[:500]
    assert "Спасибо! Ваши ответы отправлены менеджеру." in resp.get_data(as_text=True)
    db.session.expire_all()
    brief = db.session.get(Brief, brief.id)
    assert brief.submitted_at is not None
    assert brief.answers[keys["Тираж, шт."]] == "5000"
    assert brief.answers[keys["Нужен дизайн"]] is True
    [entry] = db.session.scalars(select(TimelineEntry.text).where(
        TimelineEntry.entity == "deal", TimelineEntry.record_id == deal.id,
        TimelineEntry.text.like("Клиент заполнил анкету%")))
    assert "Тираж, шт.: 5000" in entry and "Нужен дизайн: Да" in entry
    assert "Желаемая дата поставки: 15.02.2027" in entry
    assert "Нужна печать: Логотип, Полноцвет" in entry
    [mail] = db.session.scalars(select(OutboxMessage).where(
        OutboxMessage.kind == "email", OutboxMessage.subject == "Клиент заполнил анкету"))
    assert mail.recipients == ["manager@example.com"] and "Тираж, шт.: 5000" in mail.body
    assert db.session.scalar(select(func.count()).select_from(OutboxMessage).where(
        OutboxMessage.kind == "notification",
        OutboxMessage.body.like("Клиент заполнил анкету%"))) == 1
    page = manager.get(f"/dealview/show/{deal.id}").get_data(as_text=True)
    assert "заполнена" in page and "Логотип, Полноцвет" in page

    # A second submission: refused, the answers stay.
    again = client.post(path, data={**good, keys["Название компании"]: "Другое"})
    assert again.status_code == 409 and "Анкета уже заполнена" in again.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(Brief, brief.id).answers[keys["Название компании"]] == "ООО «Хлеб»"
    assert "Анкета уже заполнена" in client.get(path).get_data(as_text=True)
    assert db.session.scalar(select(func.count()).select_from(OutboxMessage).where(
        OutboxMessage.subject == "Клиент заполнил анкету")) == 1


def test_required_answers_are_asked_for(app, login):
    questionnaire = _build(login("admin"))
    deal = make_deal("Сделка", "manager", make_pipeline())
    manager = login("manager")
    manager.post(f"/crm/briefs/send/deal/{deal.id}",
                 data={"questionnaire_id": str(questionnaire.id)})
    [(_id, path)] = LINK_RE.findall(manager.get(f"/dealview/show/{deal.id}")
                                    .get_data(as_text=True))
    resp = login(None).post(path, data={})
    html = resp.get_data(as_text=True)
    assert resp.status_code == 422
    assert html.count("Заполните это поле") == 2 and "Выберите вариант" in html


def test_who_may_not_write_the_deal_cannot_send_a_brief(app, login):
    questionnaire = _build(login("admin"))
    deal = make_deal("Сделка", "manager", make_pipeline())
    for who in ("manager2", "outsider", "logistician"):
        resp = login(who).post(f"/crm/briefs/send/deal/{deal.id}",
                               data={"questionnaire_id": str(questionnaire.id)})
        assert resp.status_code in (403, 404), who
    # A questionnaire id of digits that are not numbers («²») is «Выберите анкету».
    resp = login("manager").post(f"/crm/briefs/send/deal/{deal.id}",
                                 data={"questionnaire_id": "²"}, follow_redirects=True)
    assert resp.status_code == 200 and "Выберите анкету" in resp.get_data(as_text=True)
    assert db.session.scalar(select(func.count()).select_from(Brief)) == 0


def test_the_public_form_needs_its_csrf_token(app, login):
    questionnaire = _build(login("admin"))
    deal = make_deal("Сделка", "manager", make_pipeline())
    manager = login("manager")
    manager.post(f"/crm/briefs/send/deal/{deal.id}",
                 data={"questionnaire_id": str(questionnaire.id)})
    [(_id, path)] = LINK_RE.findall(manager.get(f"/dealview/show/{deal.id}")
                                    .get_data(as_text=True))
    client = login(None)
    opened = client.get(path).get_data(as_text=True)
    assert "Клиент открыл анкету «Бриф на упаковку»" in " ".join(db.session.scalars(
        select(TimelineEntry.text).where(TimelineEntry.record_id == deal.id)))
    app.config["WTF_CSRF_ENABLED"] = True
    try:
        html = client.get(path).get_data(as_text=True)
        assert 'name="csrf_token"' in html and 'name="csrf_token"' not in opened
        resp = client.post(path, data={})
        assert resp.status_code == 400
    finally:
        app.config["WTF_CSRF_ENABLED"] = False
    db.session.expire_all()
    assert db.session.scalar(select(Brief)).submitted_at is None
