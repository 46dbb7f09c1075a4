"""The record page's history: comments, field changes in words, row rules on commenting."""
from __future__ import annotations


from sqlalchemy import select

from app.extensions import db
from models.base import acting_as
from models.party import Company
from models.task import Task
from models.timeline import TimelineEntry, add_timeline, describe_changes, timeline_for
from tests.helpers import LEGAL, legal_company, user

def _task(assignee: str, title="Позвонить клиенту") -> Task:
    task = Task(title=title, assignee_id=user(assignee).id, creator_id=user(assignee).id)
    db.session.add(task)
    db.session.commit()
    return task


def test_comment_appears_on_the_record_page(client):
    company = legal_company()
    resp = client.post(f"/crm/comment/add/company/{company.id}",
                       data={"text": "Клиент просит перезвонить в пятницу"})
    assert resp.status_code == 302
    assert resp.headers["Location"].endswith(f"/companyview/show/{company.id}#crm-history")
    entry = db.session.scalar(select(TimelineEntry))
    assert entry.kind == "comment" and entry.entity == "company"
    assert entry.record_id == company.id
    assert entry.author_id == user("admin").id
    page = client.get(f"/companyview/show/{company.id}").get_data(as_text=True)
    assert "История" in page and "Файлы" in page
    assert "Клиент просит перезвонить в пятницу" in page
    assert 'name="text"' in page  # the comment form
    assert f'action="/crm/comment/add/company/{company.id}"' in page


def test_manager_comments_a_record_it_can_see(login):
    company = legal_company()
    manager = login("manager")
    resp = manager.post(f"/crm/comment/add/company/{company.id}", data={"text": "Звонил"})
    assert resp.status_code == 302
    entry = db.session.scalar(select(TimelineEntry))
    assert entry.author_id == user("manager").id


def test_empty_comment_refused_with_russian_message(client):
    company = legal_company()
    resp = client.post(f"/crm/comment/add/company/{company.id}", data={"text": "   "})
    assert resp.status_code == 422
    assert "Введите текст комментария" in resp.get_data(as_text=True)
    assert db.session.query(TimelineEntry).count() == 0


def test_comment_on_unknown_record_or_entity_is_404(client):
    assert client.post("/crm/comment/add/company/999", data={"text": "x"}).status_code == 404
    assert client.post("/crm/comment/add/nosuch/1", data={"text": "x"}).status_code == 404
    assert db.session.query(TimelineEntry).count() == 0


def test_user_who_cannot_see_the_record_gets_403_on_commenting(login):
    task = _task("manager")
    other = login("manager2")
    resp = other.post(f"/crm/comment/add/task/{task.id}", data={"text": "Чужая задача"})
    assert resp.status_code == 403
    api = other.api("post", f"/api/v1/timeline/task/{task.id}", json={"text": "Чужая"})
    assert api.status_code == 403
    assert other.api("get", f"/api/v1/timeline/task/{task.id}").status_code == 403
    assert db.session.query(TimelineEntry).count() == 0
    # the responsible manager may
    own = login("manager")
    assert own.post(f"/crm/comment/add/task/{task.id}",
                    data={"text": "Моя задача"}).status_code == 302
    assert db.session.query(TimelineEntry).count() == 1


def test_user_without_comment_right_is_refused(login):
    company = legal_company()
    from tests.factories import make_user

    make_user("norights", ["public"])  # a role the access table gives nothing
    resp = login("norights").post(f"/crm/comment/add/company/{company.id}",
                                       data={"text": "Нельзя"})
    assert resp.status_code == 403
    anonymous = login(None)
    resp = anonymous.post(f"/crm/comment/add/company/{company.id}", data={"text": "x"})
    assert resp.status_code == 302 and "/login" in resp.headers["Location"]
    assert db.session.query(TimelineEntry).count() == 0


def test_field_change_appears_in_the_timeline_in_words(client):
    company = legal_company()
    resp = client.post(f"/companyview/edit/{company.id}",
                       data={**LEGAL, "name": "ООО «Лютик»", "phone": "+7 495 123-45-67"})
    assert resp.status_code == 302, resp.get_data(as_text=True)
    page = client.get(f"/companyview/show/{company.id}").get_data(as_text=True)
    assert "Изменено поле «Краткое наименование»: ООО «Ромашка» → ООО «Лютик»" in page
    texts = [i.text for i in timeline_for("company", company.id)]
    assert "Изменено поле «Телефон»: — → +7 495 123-45-67" in texts
    assert texts[0] == "Создано: Контрагент «ООО «Ромашка»»"


def test_money_and_dates_are_formatted_and_unknown_fields_fall_back_to_the_key(app):
    words = dict(describe_changes("product", {"price": ["100000.00", "150000.00"]}))
    assert words["price"] == "Изменено поле «Цена»: 100\u00a0000,00\u00a0₽ → 150\u00a0000,00\u00a0₽"
    words = dict(describe_changes("task", {"deadline": [None, "2026-03-02T09:00:00"],
                                           "mystery": [1, 2]}))
    assert words["deadline"].endswith("— → 02.03.2026 12:00")
    assert words["mystery"] == "Изменено поле «mystery»: 1 → 2"


def test_foreign_key_change_shows_the_linked_record(client):
    company = legal_company()
    company.responsible_id = user("manager").id
    db.session.commit()
    texts = [i.text for i in timeline_for("company", company.id)]
    assert "Изменено поле «Ответственный»: — → Тестов Иван" in texts


def test_add_timeline_joins_the_callers_transaction(app):
    company = legal_company()
    with acting_as(user("manager").id):
        add_timeline("company", company.id, "stage", "Этап: Новая → В работе",
                     payload={"from": "new", "to": "work"})
    db.session.rollback()  # the caller's change failed: the entry goes with it
    assert db.session.query(TimelineEntry).count() == 0
    with acting_as(user("manager").id):
        add_timeline("company", company.id, "task_created", "Создана задача «Позвонить»")
    add_timeline("company", company.id, "system", "Правило сработало", author_id=0)
    db.session.commit()
    items = timeline_for("company", company.id)
    kinds = [(i.kind, i.author_name) for i in items]
    assert ("task_created", "Тестов Иван") in kinds
    assert ("system", "Система") in kinds
    assert [i.at for i in items] == sorted(i.at for i in items)


def test_timeline_api_lists_history_and_adds_comments(client):
    company = legal_company()
    resp = client.api("post", f"/api/v1/timeline/company/{company.id}", json={"text": "Через API"})
    assert resp.status_code == 201, resp.json
    bad = client.api("post", f"/api/v1/timeline/company/{company.id}", json={"text": ""})
    assert bad.status_code == 422
    assert "Введите текст" in bad.json["message"]["text"][0]
    resp = client.api("get", f"/api/v1/timeline/company/{company.id}")
    assert resp.status_code == 200
    kinds = [i["kind"] for i in resp.json["result"]]
    assert kinds == ["system", "comment"]
    assert resp.json["result"][1]["author"]


def test_forms_carry_a_csrf_token_that_is_checked(client, app):
    import re

    company = legal_company()
    app.config["WTF_CSRF_ENABLED"] = True
    try:
        page = client.get(f"/companyview/show/{company.id}").get_data(as_text=True)
        tokens = re.findall(r'name="csrf_token" value="([^"]+)"', page)
        assert len(tokens) >= 2  # the comment and the upload forms
        forged = client.post(f"/crm/comment/add/company/{company.id}", data={"text": "Подлог"})
        assert forged.status_code == 400
        assert "Обновите страницу" in forged.get_data(as_text=True)
        assert db.session.query(TimelineEntry).count() == 0
        ok = client.post(f"/crm/comment/add/company/{company.id}",
                         data={"text": "Настоящий", "csrf_token": tokens[0]})
        assert ok.status_code == 302
    finally:
        app.config["WTF_CSRF_ENABLED"] = False
    assert db.session.query(TimelineEntry).count() == 1


def test_cascade_record_page_also_shows_history(client, app):
    """crm/show_cascade.html: for screens with related lists (deals, pipelines)."""
    from views.party import CompanyView

    company = legal_company()
    client.post(f"/crm/comment/add/company/{company.id}", data={"text": "Каскад"})
    view = next(v for v in app.appbuilder.baseviews if isinstance(v, CompanyView))
    old = view.show_template
    view.show_template = "crm/show_cascade.html"
    try:
        html = client.get(f"/companyview/show/{company.id}").get_data(as_text=True)
    finally:
        view.show_template = old
    assert "Каскад" in html and "crm-upload-form" in html


def test_tasks_of_a_record_appear_in_its_history(app, client):
    import datetime as dt

    company = Company(kind="person", name="Петров Пётр Петрович")
    db.session.add(company)
    db.session.commit()
    task = Task(title="Позвонить клиенту", record_entity="company", record_id=company.id)
    db.session.add(task)
    db.session.commit()
    task.status = "done"
    task.result = "Договорились о встрече"
    task.closed_at = task.closed_at or dt.datetime(2030, 1, 1)
    db.session.commit()
    texts = [item.text for item in timeline_for("company", company.id)]
    assert "Задача «Позвонить клиенту» создана" in texts
    assert "Задача «Позвонить клиенту»: Выполнена: Договорились о встрече" in texts
    page = client.get(f"/companyview/show/{company.id}").get_data(as_text=True)
    assert "Задача «Позвонить клиенту» создана" in page
