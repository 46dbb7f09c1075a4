"""The audit log: every insert, update and delete with its user, and the read-only screen."""
from __future__ import annotations

import datetime as dt

import pytest

from sqlalchemy import select

from app.extensions import db
from models.audit import AuditLog
from models.party import Company
from models.task import Task
from models.trash import SHOW_BINNED
from models.user import CrmUser

LEGAL = {"kind": "legal", "name": "ООО «Ромашка»", "inn": "7707083893"}


def _user_id(username) -> int:
    return db.session.scalar(select(CrmUser.id).where(CrmUser.username == username))


def _rows(**where):
    stmt = select(AuditLog).order_by(AuditLog.id)
    for key, value in where.items():
        stmt = stmt.where(getattr(AuditLog, key) == value)
    return db.session.scalars(stmt).all()


def test_insert_update_delete_are_logged_with_the_user(login):
    manager = login("manager")
    assert manager.post("/companyview/add", data=LEGAL).status_code == 302
    company_id = db.session.scalar(select(Company.id))
    (insert,) = _rows(entity="company", action="insert")
    assert insert.record_id == company_id
    assert insert.user_id == _user_id("manager")
    assert insert.changes["name"] == [None, "ООО «Ромашка»"]
    assert insert.changes["inn"] == [None, "7707083893"]

    resp = manager.post(f"/companyview/edit/{company_id}",
                        data={**LEGAL, "name": "ООО «Лютик»"})
    assert resp.status_code == 302
    (update,) = _rows(entity="company", action="update")
    assert update.user_id == _user_id("manager")
    assert update.changes["name"] == ["ООО «Ромашка»", "ООО «Лютик»"]
    assert "updated_at" not in update.changes

    # A deletion moves the company to the recycle bin (tests/test_trash.py tells the rest).
    director = login("director")
    assert director.post(f"/companyview/delete/{company_id}").status_code == 302
    db.session.expire_all()
    assert db.session.get(Company, company_id, execution_options=SHOW_BINNED).in_trash
    (delete,) = _rows(entity="company", action="trash")
    assert delete.user_id == _user_id("director")
    assert delete.record_id == company_id
    assert delete.record_repr == "ООО «Лютик»"


def test_api_changes_are_logged_too(client):
    resp = client.api("post", "/api/v1/company/", json=LEGAL)
    assert resp.status_code == 201, resp.json
    (insert,) = _rows(entity="company", action="insert")
    assert insert.user_id == _user_id("admin")


def test_screen_shows_changes_in_words(login):
    admin = login("admin")
    admin.post("/companyview/add", data=LEGAL)
    company_id = db.session.scalar(select(Company.id))
    admin.post(f"/companyview/edit/{company_id}", data={**LEGAL, "name": "ООО «Лютик»"})
    html = admin.get("/auditlogview/list/").get_data(as_text=True)
    assert "Журнал изменений" in html
    assert "Изменено поле «Краткое наименование»: ООО «Ромашка» → ООО «Лютик»" in html
    assert "Создание" in html and "Изменение" in html
    assert "Контрагент" in html
    assert f"/companyview/show/{company_id}" in html  # the record link
    show = admin.get(f"/auditlogview/show/{_rows(action='update')[0].id}")
    assert show.status_code == 200
    assert "ООО «Лютик»" in show.get_data(as_text=True)


def test_screen_filters_by_entity_record_user_and_date(login):
    admin = login("admin")
    for name, inn in (("ООО «Первая»", "7707083893"), ("ООО «Вторая»", "7736050003")):
        admin.post("/companyview/add", data={**LEGAL, "name": name, "inn": inn})
    from models.base import acting_as
    from models.party import Contact

    with acting_as(_user_id("manager")):  # a change made outside a request (job, CLI)
        db.session.add(Contact(last_name="Иванов"))
        db.session.commit()
    ids = db.session.scalars(select(Company.id).order_by(Company.id)).all()
    assert len(ids) == 2 and len(_rows()) == 3
    admin = login("admin")

    def listed(query):
        html = admin.get(f"/auditlogview/list/?{query}").get_data(as_text=True)
        return {n for n in ("Первая", "Вторая", "Иванов") if n in html}

    assert listed("_flt_3_entity=contact") == {"Иванов"}
    assert listed(f"_flt_3_entity=company&_flt_0_record_id={ids[1]}") == {"Вторая"}
    assert listed(f"_flt_0_user={_user_id('manager')}") == {"Иванов"}
    tomorrow = (dt.datetime.now() + dt.timedelta(days=1)).strftime("%Y-%m-%d %H:%M:%S")
    yesterday = (dt.datetime.now() - dt.timedelta(days=1)).strftime("%Y-%m-%d %H:%M:%S")
    assert listed(f"_flt_1_at={tomorrow}") == set()
    assert listed(f"_flt_1_at={yesterday}") == {"Первая", "Вторая", "Иванов"}


def test_screen_is_for_admin_and_director_only(login):
    assert login("admin").get("/auditlogview/list/").status_code == 200
    assert login("director").get("/auditlogview/list/").status_code == 200
    for role in ("manager", "sales_head", "secretary", "accountant", "employee"):
        resp = login(role).get("/auditlogview/list/")
        assert resp.status_code == 403, role
    anonymous = login(None).get("/auditlogview/list/")
    assert anonymous.status_code == 302 and "/login" in anonymous.headers["Location"]
    html = login("director").get("/").get_data(as_text=True)
    assert "Журнал изменений" in html
    html = login("manager").get("/").get_data(as_text=True)
    assert "Журнал изменений" not in html


def test_screen_is_read_only_even_for_the_admin(login):
    admin = login("admin")
    admin.post("/companyview/add", data=LEGAL)
    (row,) = _rows()
    assert admin.get("/auditlogview/add").status_code == 403
    assert admin.post("/auditlogview/add", data={"entity": "x", "record_id": 1,
                                                  "action": "insert"}).status_code == 403
    assert admin.get(f"/auditlogview/edit/{row.id}").status_code == 403
    assert admin.post(f"/auditlogview/delete/{row.id}").status_code == 403
    assert admin.get(f"/auditlogview/delete/{row.id}").status_code == 403
    db.session.expire_all()
    assert len(_rows()) == 1
    html = admin.get("/auditlogview/list/").get_data(as_text=True)
    assert "/auditlogview/add" not in html and f"/auditlogview/delete/{row.id}" not in html


def test_task_links_open_the_task_screen_not_an_inbox(app, client):
    from views.timeline import view_for_entity

    assert view_for_entity("task").__class__.__name__ == "TaskView"
    assert view_for_entity("order").__class__.__name__ == "OrderView"


def test_resave_with_empty_strings_writes_no_row(client):
    resp = client.api("post", "/api/v1/company/", json=LEGAL)
    company_id = resp.json["id"]
    before = len(_rows())
    resp = client.api("put", f"/api/v1/company/{company_id}",
                      json={"note": "", "phone": "", "website": ""})
    assert resp.status_code == 200, resp.json
    assert len(_rows()) == before
    html = client.get("/auditlogview/list/").get_data(as_text=True)
    assert "— → —" not in html


@pytest.fixture()
def sales(app):
    """The shipped «Продажа» process, installed (pipeline, custom fields, rules)."""
    from process import catalog as processes
    from config import BASE_DIR
    from models.pipeline import Pipeline

    processes.install_file(BASE_DIR / "rules" / "definitions" / "001_sales.yaml")
    db.session.commit()
    return db.session.scalar(select(Pipeline).where(Pipeline.code == "sales"))


def _auto_task_row(client, sales):
    from tests.test_deal_custom_fields import _deal

    deal = _deal(client, sales)
    (row,) = [r for r in _rows(entity="task", action="insert")]
    task = db.session.get(Task, row.record_id)
    assert task.record_id == deal.id and task.rule_key
    return row, task


def test_engine_keys_are_off_the_audit_list_and_screen(login, sales):
    admin = login("admin")
    row, task = _auto_task_row(admin, sales)
    for who in ("admin", "director"):
        client = login(who)
        html = client.get("/auditlogview/list/").get_data(as_text=True)
        assert task.rule_key not in html and task.effect_key not in html, who
        assert "rule_key" not in html and "transition_id" not in html, who
        show = client.get(f"/auditlogview/show/{row.id}").get_data(as_text=True)
        fields = show.split("Технические сведения")[0]
        assert task.title in fields
        assert task.rule_key not in fields and task.transition_id not in fields, who


def test_admin_alone_reads_the_technical_details(login, sales):
    row, task = _auto_task_row(login("admin"), sales)
    show = login("admin").get(f"/auditlogview/show/{row.id}")
    assert show.status_code == 200
    html = show.get_data(as_text=True)
    assert "Технические сведения" in html
    details = html.split("Технические сведения", 1)[1]
    assert task.rule_key in details and task.effect_key in details
    assert "transition_id" in details
    show = login("director").get(f"/auditlogview/show/{row.id}")
    assert show.status_code == 200
    html = show.get_data(as_text=True)
    assert "Технические сведения" not in html and task.rule_key not in html


def test_lists_and_record_kinds_read_as_words(login):
    """A task's outcomes are a list of words, its record kind a Russian name; a change no
    person made is the system's."""
    import html as html_lib

    from models.base import acting_as
    from models.deal import Deal  # noqa: F401 - the record kind must be known

    with acting_as(None):
        task = Task(title="Согласовать", outcome_choices=["Принять заявку", "Отказ"],
                    record_entity="deal", record_id=1)
        db.session.add(task)
        db.session.commit()
    (row,) = _rows(entity="task", action="insert")
    admin = login("admin")
    page = html_lib.unescape(admin.get("/auditlogview/list/").get_data(as_text=True))
    assert "Принять заявку, Отказ" in page
    assert "['Принять заявку'" not in page
    assert ": deal" not in page and "Сделка" in page
    show = html_lib.unescape(admin.get(f"/auditlogview/show/{row.id}").get_data(as_text=True))
    assert "Система" in show.split("Технические сведения")[0]
