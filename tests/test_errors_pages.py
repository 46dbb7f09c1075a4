"""Error pages: a Russian sentence in the panel's layout, never a traceback; API paths answer
JSON {"message": "..."} in Russian."""
from __future__ import annotations

from contextlib import contextmanager

from tests.test_russian_ui import english_words, visible_text

TRACE_WORDS = ("Traceback", "Werkzeug", "werkzeug", "File \"", "Exception", "Not Found",
               "Forbidden", "Internal Server Error")


def assert_error_page(resp, status: int, *expected: str) -> str:
    assert resp.status_code == status
    assert resp.mimetype == "text/html"
    html = resp.get_data(as_text=True)
    text = visible_text(html)
    for word in TRACE_WORDS:
        assert word not in html, f"{word!r} on the {status} page"
    assert english_words(text) == [], text
    for word in expected:
        assert word in text, f"«{word}» не найдено: {text}"
    return text


@contextmanager
def config(app, **values):
    old = {k: app.config.get(k) for k in values}
    app.config.update(values)
    try:
        yield
    finally:
        app.config.update(old)


def test_404_page_is_russian_in_the_layout(client):
    text = assert_error_page(client.get("/no-such-page/"), 404, "Страница не найдена",
                             "На главную")
    assert "Выйти" in text  # the panel's navbar is there


def test_404_for_a_missing_record(client):
    assert_error_page(client.get("/companyview/show/999999"), 404, "Страница не найдена")


def test_404_for_anonymous_has_a_way_in(login):
    assert_error_page(login(None).get("/no-such-page/"), 404, "Страница не найдена")


def test_403_page_is_russian(login):
    text = assert_error_page(login("manager").get("/users/list/"), 403, "Доступ запрещён",
                             "обратитесь к администратору")
    assert "Выйти" in text


def test_405_page_is_russian(client):
    assert_error_page(client.post("/companyview/list/"), 405, "Действие недоступно")


def test_413_page_is_russian(app, client):
    with config(app, MAX_CONTENT_LENGTH=1000):
        resp = client.post("/departmentview/add", data={"name": "x" * 5000})
    assert_error_page(resp, 413, "Слишком большой файл")


def test_over_size_api_bodies_get_413_in_russian_json_not_500(app, client):
    """Flask-AppBuilder's @safe turned the refusal raised inside an endpoint into a 500."""
    import io

    from app.extensions import db
    from models.party import Company

    company = Company(kind="person", name="Большой Б. Б.")
    db.session.add(company)
    db.session.commit()
    client.api("get", "/api/v1/company/")  # the token, before the limit is lowered
    auth = {"Authorization": f"Bearer {client._token}"}
    with config(app, MAX_CONTENT_LENGTH=1000):
        responses = [
            client.api("post", "/api/v1/company/", json={"kind": "person", "name": "Ж" * 3000}),
            client.api("put", f"/api/v1/company/{company.id}", json={"name": "Ж" * 3000}),
            client.api("post", f"/api/v1/timeline/company/{company.id}", json={"text": "Ж" * 3000}),
            client.http.post(f"/api/v1/attachment/record/company/{company.id}",
                             data={"file": (io.BytesIO(b"x" * 5000), "big.txt")},
                             content_type="multipart/form-data", headers=auth),
            app.test_client().post("/api/v1/security/login", json={
                "username": "Ж" * 3000, "password": "x", "provider": "db"}),
        ]
    for resp in responses:
        assert resp.status_code == 413, (resp.request.path, resp.status_code)
        assert "превышает допустимый" in resp.json["message"]
    db.session.expire_all()
    assert db.session.get(Company, company.id).name == "Большой Б. Б."


def test_500_page_hides_the_error(app):
    with config(app, PROPAGATE_EXCEPTIONS=False), app.test_request_context("/companyview/list/"):
        resp = app.make_response(app.handle_exception(RuntimeError("secret-detail")))
    html = resp.get_data(as_text=True)
    assert resp.status_code == 500
    assert "secret-detail" not in html and "Traceback" not in html
    assert "Внутренняя ошибка" in visible_text(html)


def test_api_unknown_path_answers_russian_json(client):
    resp = client.api("get", "/api/v1/no-such-thing/")
    assert resp.status_code == 404
    assert resp.is_json
    assert resp.json == {"message": "Такой страницы или записи нет: возможно, её удалили "
                                    "или ссылка неверна."}


def test_api_unknown_record_answers_russian_json(client):
    resp = client.api("get", "/api/v1/department/999999")
    assert resp.status_code == 404
    assert resp.json["message"] == "Запись не найдена"


def test_api_without_token_is_refused_in_russian(login):
    resp = login(None).http.get("/api/v1/department/")
    assert resp.status_code == 401
    assert resp.json["message"].startswith("Нужна авторизация")


def test_api_forbidden_is_russian(login):
    resp = login("manager").api("get", "/api/v1/department/")
    assert resp.status_code == 403
    assert resp.json["message"] in ("Отказано в доступе", "Доступ запрещён",
                                    "Недостаточно прав для этого действия")


def test_api_405_is_russian_json(client):
    resp = client.api("delete", "/api/v1/department/")
    assert resp.status_code == 405
    assert resp.json["message"] == "Этот адрес не поддерживает такое действие."


def test_api_field_messages_are_russian(client):
    resp = client.api("post", "/api/v1/department/", json={"code": "x", "bogus": 1})
    assert resp.status_code == 422
    messages = resp.json["message"]
    assert messages["name"] == ["Обязательное поле"]
    assert messages["bogus"] == ["Неизвестное поле"]


def test_api_500_is_russian_json(app):
    with config(app, PROPAGATE_EXCEPTIONS=False), app.test_request_context("/api/v1/deal/"):
        resp = app.make_response(app.handle_exception(RuntimeError("secret-detail")))
    assert resp.status_code == 500
    assert "secret-detail" not in resp.get_data(as_text=True)
    assert resp.json["message"].startswith("Внутренняя ошибка")


def test_api_parameterised_field_messages_are_russian(client):
    resp = client.api("post", "/api/v1/company/", json={"kind": "person", "name": "Ж" * 400})
    assert resp.status_code == 422
    assert resp.json["message"]["name"] == ["Не длиннее 300 символов"]
