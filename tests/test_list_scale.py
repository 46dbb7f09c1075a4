"""Screens that grow with the data: a list page asks the database the same number of
statements for 5 rows as for a full page, and no page or form lists a whole table (a
relation is picked by searching on the server, first matches only)."""
from __future__ import annotations

import datetime as dt

import pytest
from jinja2.utils import htmlsafe_json_dumps
from sqlalchemy import event, select
from sqlalchemy.dialects import postgresql, sqlite

from app.extensions import db
from app.scope import READ, row_clause
from models.base import acting_as
from models.deal import Deal, DealItem
from models.lead import Lead
from models.party import Company, Contact
from models.pipeline import Pipeline
from models.task import ChecklistItem, Task
from tests.helpers import user
from tests.test_pipeline_fixtures import make_pipeline, stage

PEOPLE = ["manager", "manager2", "sales_head", "secretary", "director", "executor",
          "lawyer", "engineer"]
CUSTOM = [{"key": "priority", "label": "Приоритет", "type": "string"},
          {"key": "curator", "label": "Куратор", "type": "user"}]


def statements(client, url: str) -> int:
    """How many SQL statements the page asks (after one request that warms up), with no
    record left in the session by the test (a web process starts each request empty)."""
    db.session.expunge_all()
    assert client.get(url).status_code == 200
    db.session.expunge_all()
    seen = []

    def on_sql(*_args, **_kw):
        seen.append(1)

    event.listen(db.engine, "before_cursor_execute", on_sql)
    try:
        resp = client.get(url)
    finally:
        event.remove(db.engine, "before_cursor_execute", on_sql)
    assert resp.status_code == 200
    return len(seen)


@pytest.fixture()
def pipelines(app):
    """Codes of two deal pipelines (one with custom fields) and a lead pipeline: looked up
    again by each builder, as the measured requests start from an empty session."""
    make_pipeline("scale_a", fields=CUSTOM)
    make_pipeline("scale_b", name="Воронка Б")
    make_pipeline("scale_leads", entity="lead")
    return ["scale_a", "scale_b", "scale_leads"]


def _pipeline(code: str) -> Pipeline:
    return db.session.scalar(select(Pipeline).where(Pipeline.code == code))


def _people(i: int):
    return user(PEOPLE[i % len(PEOPLE)])


def make_deals(pipelines, start: int, stop: int) -> None:
    """Deals of the manager, each with its own company, stage, custom values, observers
    and tasks: whatever a row shows differs from row to row."""
    manager = user("manager")
    with acting_as(manager.id):
        for i in range(start, stop):
            pipeline = _pipeline(pipelines[i % 2])
            deal = Deal(title=f"Сделка {i}", pipeline=pipeline,
                        stage=stage(pipeline, ("new", "talks", "won")[i % 3]),
                        responsible=manager, company=Company(kind="person", name=f"Клиент {i}"),
                        observers=[_people(i + 1)],
                        custom={"priority": f"P{i}", "curator": _people(i + 2).id}
                        if pipeline.fields else None)
            db.session.add(deal)
            db.session.flush()
            db.session.add(DealItem(deal=deal, name=f"Позиция {i}", quantity=1, price=10))
            if i % 2:
                db.session.add(Task(title=f"Звонок {i}", record_entity="deal",
                                    record_id=deal.id, assignee=_people(i),
                                    creator=_people(i + 3)))
        db.session.commit()


def make_leads(pipelines, start: int, stop: int) -> None:
    manager = user("manager")
    pipeline = _pipeline(pipelines[2])
    with acting_as(manager.id):
        for i in range(start, stop):
            lead = Lead(title=f"Лид {i}", pipeline=pipeline,
                        stage=stage(pipeline, ("new", "talks", "lost")[i % 3]),
                        responsible=manager, observers=[_people(i + 1)],
                        company_name=f"ООО «Лид {i}»")
            db.session.add(lead)
            db.session.flush()
            if i % 2:
                db.session.add(Task(title=f"Письмо {i}", record_entity="lead",
                                    record_id=lead.id, assignee=_people(i),
                                    creator=_people(i + 3)))
        db.session.commit()


def make_tasks(start: int, stop: int) -> None:
    """The manager's open tasks, linked to records of every kind, by different people."""
    manager = user("manager")
    now = dt.datetime(2026, 11, 16, 9, 0)
    with acting_as(manager.id):
        for i in range(start, stop):
            company = Company(kind="person", name=f"Контрагент задачи {i}")
            db.session.add(company)
            db.session.flush()
            link = [("company", company.id), (None, None)][i % 2]
            if i % 3 == 0:
                pipeline = _pipeline("scale_b")
                deal = Deal(title=f"Сделка задачи {i}", pipeline=pipeline,
                            stage=pipeline.stages[0], responsible=_people(i))
                db.session.add(deal)
                db.session.flush()
                link = ("deal", deal.id)
            task = Task(title=f"Задача {i}", assignee=manager, creator=_people(i),
                        observers=[_people(i + 1)], deadline=now + dt.timedelta(days=i - 20),
                        record_entity=link[0], record_id=link[1])
            db.session.add(task)
            db.session.flush()
            if i % 2:
                db.session.add(ChecklistItem(task=task, text=f"Пункт {i}", done=bool(i % 4)))
        db.session.commit()


def test_deal_list_asks_as_many_statements_for_5_rows_as_for_25(login, pipelines):
    manager = login("manager")
    make_deals(pipelines, 0, 5)
    few = statements(manager, "/dealview/list/")
    make_deals(pipelines, 5, 40)
    assert statements(manager, "/dealview/list/") == few
    assert statements(manager, "/dealview/list/?_flt_0_has_open_task=") <= few + 1


def test_lead_list_asks_as_many_statements_for_5_rows_as_for_25(login, pipelines):
    manager = login("manager")
    make_leads(pipelines, 0, 5)
    few = statements(manager, "/leadview/list/")
    make_leads(pipelines, 5, 40)
    assert statements(manager, "/leadview/list/") == few


@pytest.mark.parametrize("url", ["/taskview/list/", "/mytaskview/list/"])
def test_task_lists_ask_as_many_statements_for_5_rows_as_for_25(login, pipelines, url):
    manager = login("manager")
    make_tasks(0, 5)
    few = statements(manager, url)
    make_tasks(5, 40)
    assert statements(manager, url) == few


def _sql_of(client, url: str) -> list[str]:
    seen = []

    def on_sql(_conn, _cursor, statement, *_args):
        seen.append(statement)

    event.listen(db.engine, "before_cursor_execute", on_sql)
    try:
        assert client.get(url).status_code == 200
    finally:
        event.remove(db.engine, "before_cursor_execute", on_sql)
    return seen


def test_my_tasks_are_counted_without_ordering(login, pipelines):
    make_tasks(0, 3)
    counts = [s for s in _sql_of(login("manager"), "/mytaskview/list/")
              if s.lstrip().upper().startswith("SELECT COUNT(") and "task" in s]
    assert counts
    assert all("ORDER BY" not in s.upper() for s in counts)


# --- relation pickers ----------------------------------------------------------------------

@pytest.fixture()
def companies(app):
    db.session.add_all([Company(kind="person", name=f"Фирма-{i:03d}") for i in range(300)])
    db.session.add(Company(kind="legal", name="Особая фирма", inn="7707083893"))
    db.session.commit()


@pytest.mark.parametrize("url", ["/dealview/list/", "/dealview/add", "/contactview/list/",
                                 "/contactview/add", "/eventview/list/", "/eventview/add",
                                 "/orderview/list/", "/orderview/add", "/leadview/add"])
def test_no_screen_lists_every_company(login, pipelines, companies, url):
    html = login("manager").get(url).get_data(as_text=True)
    assert mentions(html, "Фирма-") == 0


def mentions(html: str, text: str) -> int:
    """Occurrences of `text` in a page, also inside the JSON the search form is given in."""
    return html.count(text) + html.count(str(htmlsafe_json_dumps(text))[1:-1])


def _texts(resp) -> list[str]:
    assert resp.status_code == 200, resp.get_data(as_text=True)
    return [r["text"] for r in resp.json["results"]]


def test_a_picker_answers_the_first_matches_of_the_typed_text(login, companies):
    manager = login("manager")
    found = _texts(manager.get("/dealview/picker/company?q=Фирма-1"))
    assert len(found) == 20 and all("Фирма-1" in text for text in found)
    assert _texts(manager.get("/dealview/form_picker/company?form=add&q=Особая")) == [
        "Особая фирма, ИНН 7707083893"]
    assert _texts(manager.get("/dealview/picker/company?q=100%25")) == []  # % is a letter
    assert len(_texts(manager.get("/dealview/picker/company"))) == 20


def test_a_picker_needs_the_screen_right_and_a_picker_field(login, companies):
    assert login("employee").get("/dealview/picker/company?q=Ф").status_code in (302, 403)
    assert login("manager").get("/dealview/picker/title").status_code == 404
    assert login("manager").get("/dealview/picker/nope").status_code == 404


def test_the_company_a_list_is_filtered_by_shows_in_its_filter(login, pipelines, companies):
    special = db.session.query(Company).filter(Company.name == "Особая фирма").one()
    html = login("manager").get(f"/dealview/list/?_flt_0_company={special.id}").get_data(
        as_text=True)
    option = f'<option value="{special.id}">Особая фирма, ИНН 7707083893</option>'
    assert mentions(html, option) == 1
    assert mentions(html, "Фирма-") == 0


def test_a_picker_offers_and_takes_only_deals_the_user_may_change(login, pipelines):
    manager, pipeline = user("manager"), _pipeline(pipelines[1])
    with acting_as(manager.id):
        mine = Deal(title="Моя сделка", pipeline=pipeline, stage=stage(pipeline, "new"),
                    responsible=manager)
        db.session.add(mine)
        db.session.commit()
    with acting_as(user("manager2").id):
        theirs = Deal(title="Чужая сделка", pipeline=pipeline, stage=stage(pipeline, "new"),
                      responsible=user("manager2"))
        db.session.add(theirs)
        db.session.commit()
    mine_id, theirs_id = mine.id, theirs.id
    client = login("manager")
    assert _texts(client.get("/dealitemview/form_picker/deal?form=add&q=сделка")) == [
        "Моя сделка"]
    refused = client.post("/dealitemview/add", data={
        "deal": theirs_id, "name": "Позиция", "quantity": "1", "price": "10"})
    assert "Запись не найдена или недоступна" in refused.get_data(as_text=True)
    assert db.session.query(DealItem).count() == 0
    client.post("/dealitemview/add", data={
        "deal": mine_id, "name": "Позиция", "quantity": "1", "price": "10"})
    assert [i.deal_id for i in db.session.query(DealItem)] == [mine_id]


def test_a_pipeline_contact_field_is_picked_by_search(login, app):
    pipeline = make_pipeline("scale_contact", fields=[
        {"key": "buyer", "label": "Покупатель", "type": "contact"}])
    db.session.add_all([Contact(last_name=f"Контактов-{i:02d}") for i in range(30)])
    db.session.commit()
    manager = login("manager")
    form = manager.get(f"/dealview/add?pipeline={pipeline.id}").get_data(as_text=True)
    assert "Покупатель" in form and mentions(form, "Контактов-") == 0
    found = _texts(manager.get("/dealview/form_picker/custom_contact?form=add&q=Контактов-1"))
    assert found == [f"Контактов-{i}" for i in range(10, 20)]


def test_row_rules_are_index_conditions_on_postgresql(app):
    """An observer's or a reader's records are found through ANY(ARRAY(subquery)), which
    PostgreSQL combines with the other arms of the rule as index scans; an IN (subquery)
    arm would make it read the whole table on every list."""
    manager = user("manager")
    sql = str(row_clause(Deal, manager, READ).compile(dialect=postgresql.dialect()))
    assert "= ANY(ARRAY(SELECT deal_observer.deal_id" in sql
    assert "= ANY(ARRAY(SELECT task.record_id" in sql
    assert "IN (SELECT" not in sql
    lite = str(row_clause(Deal, manager, READ).compile(dialect=sqlite.dialect()))
    assert "IN (SELECT deal_observer.deal_id" in lite and "ANY" not in lite


def _picker_urls(app):
    """Every picker of every generated screen: its list filter or form field, and where it
    asks for matches."""
    from views.base import CrmModelView
    from views.pickers import PickerField, PickerMultipleField

    for view in app.appbuilder.baseviews:
        if not isinstance(view, CrmModelView):
            continue
        forms = [(view.search_form, "picker/{}")]
        if "can_write" in view.base_permissions:  # a read-only screen shows no form
            forms += [(view.add_form, "form_picker/{}?form=add"),
                      (view.edit_form, "form_picker/{}?form=edit")]
        for form, url in forms:
            for name in dir(form):
                field_class = getattr(getattr(form, name, None), "field_class", None)
                if field_class in (PickerField, PickerMultipleField):
                    yield f"{view.route_base}/{url.format(name)}"


def test_every_picker_of_every_screen_answers(app, client, companies):
    urls = list(_picker_urls(app))
    assert len(urls) > 20
    for url in urls:
        resp = client.get(url + ("&" if "?" in url else "?") + "q=а")
        assert resp.status_code == 200, url
        assert len(resp.json["results"]) <= 20, url
