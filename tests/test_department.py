"""Departments: CRUD and head assignment through the screen and the REST API, the users of a
department on its page, refusals in Russian, access."""
from __future__ import annotations

import pytest
from sqlalchemy import delete, select, update

from app.extensions import db
from models.user import CrmUser, Department
from tests.conftest import flashes
from tests.factories import make_user
from tests.test_russian_ui import KEPT_DEPARTMENTS, english_words, visible_text


@pytest.fixture(autouse=True)
def own_departments(app):
    """Departments survive the conftest cleanup; remove the ones a test made."""
    yield
    db.session.rollback()
    extra = select(Department.id).where(Department.code.not_in(KEPT_DEPARTMENTS))
    db.session.execute(update(CrmUser).where(CrmUser.department_id.in_(extra))
                       .values(department_id=None))
    db.session.execute(delete(Department).where(Department.code.not_in(KEPT_DEPARTMENTS)))
    db.session.commit()


def user_id(username: str) -> int:
    return db.session.scalar(select(CrmUser.id).where(CrmUser.username == username))


def dep(code: str) -> Department | None:
    db.session.expire_all()
    return db.session.scalar(select(Department).where(Department.code == code))


# --- the screen ---------------------------------------------------------------------------
def test_create_with_head_through_the_form(client):
    head = user_id("production_head")
    resp = client.post("/departmentview/add", data={
        "code": "production", "name": "Производство", "head": str(head), "active": "y"},
        follow_redirects=True)
    assert resp.status_code == 200
    assert "Запись добавлена" in flashes(resp.get_data(as_text=True))
    created = dep("production")
    assert created.name == "Производство" and created.head_id == head and created.active


def test_change_head_and_deactivate_through_the_form(client):
    client.post("/departmentview/add", data={"code": "design", "name": "Дизайн",
                                             "head": str(user_id("designer")),
                                             "active": "y"})
    d = dep("design")
    resp = client.post(f"/departmentview/edit/{d.id}", data={
        "code": "design", "name": "Дизайн", "head": str(user_id("constructor"))},
        follow_redirects=True)
    assert "Изменения сохранены" in flashes(resp.get_data(as_text=True))
    d = dep("design")
    assert d.head_id == user_id("constructor")
    assert d.active is False
    text = visible_text(client.get("/departmentview/list/").get_data(as_text=True))
    assert "Дизайн" in text and "Нет" in text


def test_head_can_be_removed(client):
    client.post("/departmentview/add", data={"code": "law", "name": "Юридический отдел",
                                             "head": str(user_id("lawyer")), "active": "y"})
    d = dep("law")
    client.post(f"/departmentview/edit/{d.id}",
                data={"code": "law", "name": "Юридический отдел", "head": "__None",
                      "active": "y"})
    assert dep("law").head_id is None


def test_duplicate_code_is_refused_at_the_field(client):
    resp = client.post("/departmentview/add", data={"code": "sales", "name": "Ещё продажи",
                                                    "active": "y"})
    html = resp.get_data(as_text=True)
    assert resp.status_code == 200
    assert "Такое значение уже есть" in html
    assert 'value="Ещё продажи"' in html  # the input is kept
    assert db.session.scalar(select(Department).where(Department.name == "Ещё продажи")) \
        is None


def test_required_fields_are_refused_in_russian(client):
    resp = client.post("/departmentview/add", data={"code": "", "name": ""})
    text = visible_text(resp.get_data(as_text=True))
    assert resp.status_code == 200
    assert "Обязательное поле" in text
    assert english_words(text) == []


def test_page_lists_the_users_of_the_department(client):
    sales = dep("sales")
    resp = client.get(f"/departmentview/show/{sales.id}")
    text = visible_text(resp.get_data(as_text=True))
    assert resp.status_code == 200
    assert "Сотрудники отдела" in text
    assert "Второв" in text  # manager2 works in sales
    assert "Чужой" not in text  # outsider works in execution
    assert english_words(text) == []


def test_delete_of_a_department_with_users_is_refused(client):
    sales = dep("sales")
    resp = client.post(f"/departmentview/delete/{sales.id}", follow_redirects=True)
    messages = " ".join(flashes(resp.get_data(as_text=True)))
    assert "В отделе есть сотрудники" in messages
    assert dep("sales") is not None


def test_delete_of_an_empty_department(client):
    client.post("/departmentview/add", data={"code": "tmp", "name": "Временный",
                                             "active": "y"})
    d = dep("tmp")
    resp = client.post(f"/departmentview/delete/{d.id}", follow_redirects=True)
    assert "Запись удалена" in flashes(resp.get_data(as_text=True))
    assert dep("tmp") is None


def test_new_users_are_offered_active_departments_only(app, client):
    from views.user import CrmUserView

    if app.appbuilder.sm.userdbmodelview is not CrmUserView:
        pytest.skip("app/security.py does not use views.user.CrmUserView yet")
    client.post("/departmentview/add", data={"code": "closed", "name": "Закрытый отдел"})
    assert dep("closed").active is False
    html = client.get("/users/add").get_data(as_text=True)
    assert "Отдел продаж" in html
    assert "Закрытый отдел" not in html


# --- the API ------------------------------------------------------------------------------
def test_api_crud_with_head(client):
    head = user_id("execution_head")
    resp = client.api("post", "/api/v1/department/", json={
        "code": "install", "name": "Монтаж", "head": head, "active": True})
    assert resp.status_code == 201, resp.json
    pk = resp.json["id"]
    shown = client.api("get", f"/api/v1/department/{pk}").json["result"]
    assert shown["code"] == "install" and shown["head"]["id"] == head
    assert "password" not in str(shown)

    other = user_id("engineer")
    resp = client.api("put", f"/api/v1/department/{pk}", json={"head": other})
    assert resp.status_code == 200, resp.json
    assert dep("install").head_id == other

    listed = client.api("get", "/api/v1/department/").json["result"]
    assert {"install", "sales", "execution"} <= {row["code"] for row in listed}

    resp = client.api("delete", f"/api/v1/department/{pk}")
    assert resp.status_code == 200
    assert dep("install") is None


def test_api_duplicate_is_refused_in_russian(client):
    resp = client.api("post", "/api/v1/department/", json={"code": "sales", "name": "Другой"})
    assert resp.status_code == 422
    assert resp.json["message"]["code"] == ["Отдел с таким кодом уже есть"]
    resp = client.api("post", "/api/v1/department/", json={"code": "new",
                                                           "name": "Отдел продаж"})
    assert resp.status_code == 422
    assert resp.json["message"]["name"] == ["Отдел с таким наименованием уже есть"]
    assert dep("new") is None


def test_api_rename_keeps_own_values(client):
    sales = dep("sales")
    resp = client.api("put", f"/api/v1/department/{sales.id}", json={"active": True})
    assert resp.status_code == 200, resp.json


def test_api_unknown_head_is_refused(client):
    resp = client.api("post", "/api/v1/department/", json={"code": "ghost", "name": "Призрак",
                                                           "head": 999999})
    assert resp.status_code in (400, 422)
    assert dep("ghost") is None


def test_api_delete_with_users_is_refused(client):
    sales = dep("sales")
    resp = client.api("delete", f"/api/v1/department/{sales.id}")
    assert resp.status_code == 400
    assert resp.json["message"].startswith("В отделе есть сотрудники")
    assert dep("sales") is not None


# --- access -------------------------------------------------------------------------------
def test_director_reads_but_does_not_change(login):
    director = login("director")
    assert director.get("/departmentview/list/").status_code == 200
    sales = dep("sales")
    assert director.get(f"/departmentview/show/{sales.id}").status_code == 200
    assert director.get("/departmentview/add").status_code == 403
    assert director.api("get", "/api/v1/department/").status_code == 200
    resp = director.api("post", "/api/v1/department/", json={"code": "x", "name": "Икс"})
    assert resp.status_code == 403


def test_manager_has_no_access(login):
    manager = login("manager")
    assert manager.get("/departmentview/list/").status_code == 403
    assert manager.api("get", "/api/v1/department/").status_code == 403


def test_anonymous_is_sent_to_login(login):
    resp = login(None).get("/departmentview/list/")
    assert resp.status_code == 302
    assert "/login/" in resp.headers["Location"]


def test_a_new_member_shows_on_the_department_page(client):
    client.post("/departmentview/add", data={"code": "qa", "name": "Метрология",
                                             "active": "y"})
    d = dep("qa")
    make_user("metro2", ["metrologist"], d, first="Анна", last="Весова")
    text = visible_text(client.get(f"/departmentview/show/{d.id}").get_data(as_text=True))
    assert "Весова" in text


def test_inactive_users_are_not_offered_as_head_of_a_new_department(client):
    gone = make_user("gone", ["employee"], first="Уволен", last="Ушедший")
    gone.active = False
    db.session.commit()
    # The add form's picker searches on the server (views/pickers.py).
    def offered(q):
        resp = client.get(f"/departmentview/form_picker/head?form=add&q={q}")
        return [r["text"] for r in resp.json["results"]]

    assert offered("Ушедший") == []
    assert "Второв Пётр (manager2)" in offered("Второв")  # namesakes are told apart
    sales = dep("sales")
    sales_id = sales.id
    head_id = sales.head_id
    sales.head_id = gone.id
    db.session.commit()
    try:
        html = client.get(f"/departmentview/edit/{sales_id}").get_data(as_text=True)
        assert f'<option value="{gone.id}" selected>' in html  # the current head stays
    finally:
        sales = dep("sales")
        sales.head_id = head_id
        db.session.commit()
