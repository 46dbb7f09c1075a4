"""Custom fields of the shipped «Продажа» pipeline on the deal form and record page: one
typed input per field, typed values in `custom`, refusals at the field, Russian display."""
import pytest
from sqlalchemy import select

from process import catalog as processes
from app.extensions import db
from config import BASE_DIR
from models.deal import Deal
from models.pipeline import CustomFieldDef, Pipeline, Stage
from models.user import CrmUser

SALES_FILE = BASE_DIR / "rules" / "definitions" / "001_sales.yaml"


@pytest.fixture()
def sales(app):
    processes.install_file(SALES_FILE)
    sales = db.session.scalar(select(Pipeline).where(Pipeline.code == "sales"))
    db.session.add(CustomFieldDef(pipeline=sales, key="advance", label="Аванс", type="money",
                                  sort_order=999))
    db.session.commit()
    return sales


def _stage(pipeline, key):
    return db.session.scalar(select(Stage).where(Stage.pipeline_id == pipeline.id,
                                                 Stage.key == key))


def _deal(client, sales, **extra):
    manager = db.session.scalar(select(CrmUser).where(CrmUser.username == "manager"))
    resp = client.api("post", "/api/v1/deal/", json={
        "title": "Поставка весов", "pipeline": sales.id, "stage": _stage(sales, "new").id,
        "responsible": manager.id, **extra})
    assert resp.status_code == 201, resp.json
    return db.session.get(Deal, resp.json["id"])


def _edit_form(deal, sales, **custom):
    data = {"title": deal.title, "pipeline": str(sales.id), "stage": str(deal.stage_id),
            "responsible": str(deal.responsible_id), "version": str(deal.version),
            "budget": "150000", "budget_manual": "y",
            "custom": "1"}
    data.update({f"custom__{sales.id}__{k}": v for k, v in custom.items()})
    return data


def test_edit_form_has_one_typed_input_per_field(client, sales):
    deal = _deal(client, sales)
    html = client.get(f"/dealview/edit/{deal.id}").get_data(as_text=True)
    prefix = f"custom__{sales.id}__"
    assert f'name="{prefix}priority"' in html and "A — высокий" in html
    assert f'name="{prefix}delivery_term"' in html and 'type="date"' in html
    assert f'name="{prefix}kp_agreed"' in html and 'type="checkbox"' in html
    assert "Срок поставки" in html and "Приоритет (А/В/С)" in html
    assert "Файлы прикрепляются на странице записи" in html
    assert "{&#34;ключ&#34;" not in html and '{"ключ"' not in html


def test_form_saves_typed_values(client, sales):
    deal = _deal(client, sales)
    resp = client.post(f"/dealview/edit/{deal.id}", data=_edit_form(
        deal, sales, priority="A", delivery_term="2026-12-31", kp_agreed="y",
        direction="Весы", advance="1 073 782,50"))
    assert resp.status_code == 302, [x for x in resp.get_data(as_text=True).split("\n")
                                     if "help-block" in x or "alert" in x]
    db.session.expire_all()
    custom = db.session.get(Deal, deal.id).custom
    assert custom["priority"] == "A"
    assert custom["delivery_term"] == "2026-12-31"
    assert custom["kp_agreed"] is True and custom["need_engineers"] is False
    assert custom["direction"] == "Весы"
    assert custom["advance"] == 1073782.5


def test_letters_in_a_money_field_are_refused_at_the_field(client, sales):
    deal = _deal(client, sales)
    html = client.post(f"/dealview/edit/{deal.id}", data=_edit_form(
        deal, sales, priority="A", advance="много")).get_data(as_text=True)
    assert "«Аванс»: ожидается сумма числом" in html
    db.session.expire_all()
    assert db.session.get(Deal, deal.id).custom is None


def test_unknown_choice_code_is_refused_with_the_model_check(client, sales):
    deal = _deal(client, sales)
    html = client.post(f"/dealview/edit/{deal.id}", data=_edit_form(
        deal, sales, priority="Z")).get_data(as_text=True)
    assert "«Приоритет (А/В/С)»: значения «Z» нет в справочнике" in html
    db.session.expire_all()
    assert db.session.get(Deal, deal.id).custom is None


def test_record_page_and_list_show_labels_and_russian_values(client, sales):
    deal = _deal(client, sales, custom={"priority": "A", "delivery_term": "2026-12-31",
                                        "kp_agreed": True, "need_lawyer": False,
                                        "advance": 1073782})
    page = client.get(f"/dealview/show/{deal.id}").get_data(as_text=True)
    assert "Приоритет (А/В/С): A — высокий" in page
    assert "Срок поставки: 31.12.2026" in page
    assert "Статус КП (Согласовано/Не согласовано): Да" in page
    assert "Требуется поставить задание юристу на проверку контрагентов: Нет" in page
    assert "Аванс: 1\u00a0073\u00a0782,00\u00a0₽" in page
    listing = client.get("/dealview/list/").get_data(as_text=True)
    assert "Срок поставки: 31.12.2026" in listing and "Аванс: 1\u00a0073\u00a0782,00" in listing


def test_add_form_groups_fields_by_pipeline(client, sales):
    db.session.add(Pipeline(code="projects", name="Проекты", entity="deal", sort_order=5))
    db.session.commit()
    html = client.get("/dealview/add").get_data(as_text=True)
    assert f'data-pipeline="{sales.id}"' in html and "<legend>Продажа</legend>" in html
    assert 'getElementsByName("pipeline")' in html  # the script that switches the groups
    one = client.get(f"/dealview/add?pipeline={sales.id}").get_data(as_text=True)
    assert f'name="custom__{sales.id}__priority"' in one and "<legend>" not in one


def test_api_keeps_custom_as_a_json_object(client, sales):
    deal = _deal(client, sales, custom={"priority": "B", "kp_agreed": False})
    shown = client.api("get", f"/api/v1/deal/{deal.id}").json["result"]
    assert shown["custom"] == {"priority": "B", "kp_agreed": False}
