"""Settings → Процессы: the list, the diagram, the versions and the upload."""
from __future__ import annotations

import io

from sqlalchemy import func, select

from app.extensions import db
from process.catalog import install_shipped
from models.pipeline import CustomFieldDef, Pipeline, Stage
from models.process import ProcessVersion
from tests.test_process_install import sales_text

BAD = "key: sales\nname: Продажа\nentity: deal\nstages: []\n"
BAD_MESSAGE = "bad.yaml: stages: нужен хотя бы один этап"


def _upload(client, text: str, filename: str, process_key: str | None = "sales"):
    data = {"file": (io.BytesIO(text.encode("utf-8")), filename)}
    if process_key:
        data["process_key"] = process_key
    return client.post("/crm/process/upload/", data=data,
                       content_type="multipart/form-data")


def _versions():
    return [(v.version, v.active) for v in db.session.scalars(
        select(ProcessVersion).where(ProcessVersion.process_key == "sales")
        .order_by(ProcessVersion.version))]


def _counts():
    return tuple(db.session.scalar(select(func.count()).select_from(m))
                 for m in (Pipeline, Stage, CustomFieldDef, ProcessVersion))


def test_the_list_shows_installed_processes(app, client):
    install_shipped()
    html = client.get("/crm/process/list/").get_data(as_text=True)
    assert "Процессы" in html and "Продажа" in html and "Сделки" in html
    assert "/crm/process/show/sales" in html and "001_sales.yaml" in html
    assert "Загрузить процесс" in html  # the admin may upload


def test_the_process_page_draws_the_stages_in_words(app, client):
    install_shipped()
    resp = client.get("/crm/process/show/sales")
    assert resp.status_code == 200
    html = resp.get_data(as_text=True)
    for name in ("Новая заявка", "Взят в работу", "Сделка успешна", "Сделка провалена"):
        assert name in html
    assert "#39a8ef" in html  # the stage's colour
    assert "срок на этапе: 1 час" in html and "срок на этапе: 2 рабочих дня" in html
    assert "срок на этапе: 1 день" in html
    assert "открыт" in html and "успех" in html and "провал" in html
    assert "Приоритет (А/В/С)" in html and "Срок поставки" in html
    assert "«Договор», «Счет» — если «Бюджет» больше 500\u00a0000" in html
    assert "Задача «Проверить товарные позиции» → ответственный, срок 1 день" in html
    assert "Задача «Задание инженерам по сделке «[Название]»» → роль «Инженер»" in html
    assert "Сообщение клиенту «Ваша заявка взята в обработку»" in html
    assert "key: new" not in html  # not the raw YAML
    assert "Версии" in html and "активна" in html


def test_a_bad_upload_is_refused_on_the_page_and_writes_nothing(app, client):
    install_shipped()
    before = _counts()
    resp = _upload(client, BAD, "bad.yaml")
    assert resp.status_code == 422
    html = resp.get_data(as_text=True)
    assert BAD_MESSAGE in html
    assert "Новая заявка" in html  # the page of the process, with version 1 still drawn
    assert _counts() == before
    assert _versions() == [(1, True)]


def test_a_file_that_is_not_yaml_or_not_utf8_is_refused(app, client):
    install_shipped()
    resp = _upload(client, "key: [\n", "broken.yaml")
    assert resp.status_code == 422
    assert "broken.yaml: строка 2: не разбирается как YAML" in resp.get_data(as_text=True)
    data = {"file": (io.BytesIO("ключ".encode("cp1251")), "cp.yaml"), "process_key": "sales"}
    resp = client.post("/crm/process/upload/", data=data, content_type="multipart/form-data")
    assert resp.status_code == 422
    assert "ожидается текст YAML в кодировке UTF-8" in resp.get_data(as_text=True)
    resp = client.post("/crm/process/upload/", data={"process_key": "sales"},
                       content_type="multipart/form-data")
    assert resp.status_code == 422
    assert "Выберите файл определения процесса" in resp.get_data(as_text=True)
    assert _versions() == [(1, True)]


def test_a_file_of_another_process_is_refused_on_a_process_page(app, client):
    install_shipped()
    other = sales_text().replace("key: sales", "key: sales_copy", 1)
    resp = _upload(client, other, "copy.yaml")
    assert resp.status_code == 422
    assert "в файле процесс «sales_copy», а это страница процесса «sales»" in \
        resp.get_data(as_text=True)
    assert db.session.scalar(select(Pipeline).where(Pipeline.code == "sales_copy")) is None


def test_a_good_upload_becomes_the_active_version(app, client):
    install_shipped()
    changed = sales_text().replace("name: КП\n", "name: Коммерческое предложение\n")
    resp = _upload(client, changed, "sales_v2.yaml")
    assert resp.status_code == 302
    html = client.get(resp.headers["Location"]).get_data(as_text=True)
    assert "Установлена версия 2 процесса «Продажа»; теперь она активна" in html
    assert "Коммерческое предложение" in html
    assert _versions() == [(1, False), (2, True)]
    v2 = db.session.scalar(select(ProcessVersion).where(ProcessVersion.version == 2))
    assert v2.installed_by.username == "admin" and v2.filename == "sales_v2.yaml"
    # the old version stays viewable
    old = client.get("/crm/process/show/sales?version=1").get_data(as_text=True)
    assert "версия 1 (не активна)" in old and "<h4>3. КП</h4>" in old
    # the same file again: no version 3
    resp = _upload(client, changed, "sales_v2.yaml")
    html = client.get(resp.headers["Location"]).get_data(as_text=True)
    assert "совпадает с активной версией 2" in html
    assert _versions() == [(1, False), (2, True)]


def test_a_new_process_is_uploaded_from_the_list(app, client):
    text = ("key: test_orders\nname: Тестовые заказы\nentity: order\nstages:\n"
            "  - {key: draft, name: Черновик, deadline: 3 working days}\n"
            "  - {key: done, name: Проведён, kind: won}\n")
    resp = _upload(client, text, "orders.yaml", process_key=None)
    assert resp.status_code == 302
    html = client.get("/crm/process/show/test_orders").get_data(as_text=True)
    assert "Черновик" in html and "3 рабочих дня" in html and "Заказы покупателей" in html
    resp = _upload(client, BAD, "bad.yaml", process_key=None)
    assert resp.status_code == 422 and BAD_MESSAGE in resp.get_data(as_text=True)


def test_an_unknown_process_is_404(app, client):
    assert client.get("/crm/process/show/nothing").status_code == 404
    install_shipped()
    assert client.get("/crm/process/show/sales?version=9").status_code == 404


def test_a_manager_reads_but_cannot_upload(app, login):
    install_shipped()
    manager = login("manager")
    html = manager.get("/crm/process/show/sales").get_data(as_text=True)
    assert "Новая заявка" in html and "Загрузить новую версию" not in html
    changed = sales_text().replace("name: КП\n", "name: Другое КП\n")
    resp = _upload(manager, changed, "sales_v2.yaml")
    assert resp.status_code in (302, 403)
    assert "/crm/process/show" not in resp.headers.get("Location", "")
    assert _versions() == [(1, True)]


def test_a_role_without_pipeline_rights_does_not_see_processes(app, login):
    install_shipped()
    secretary = login("secretary")
    resp = secretary.get("/crm/process/list/")
    assert resp.status_code in (302, 403)


def test_the_upload_form_carries_a_csrf_token_and_refuses_without_it(app, client):
    install_shipped()
    app.config["WTF_CSRF_ENABLED"] = True
    try:
        html = client.get("/crm/process/show/sales").get_data(as_text=True)
        assert 'name="csrf_token"' in html
        changed = sales_text().replace("name: КП\n", "name: Другое КП\n")
        resp = _upload(client, changed, "sales_v2.yaml")
        assert resp.status_code == 400
    finally:
        app.config["WTF_CSRF_ENABLED"] = False
    assert _versions() == [(1, True)]
