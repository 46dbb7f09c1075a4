"""Fields a process makes read-only on a stage: disabled on the edit form, a change refused
through the form and the API with a Russian message naming the field, nothing saved."""
import pytest
from sqlalchemy import select

from process import catalog as processes
from app.extensions import db
from config import BASE_DIR
from models.deal import Deal
from models.pipeline import Pipeline, Stage
from models.user import CrmUser

SALES_FILE = BASE_DIR / "rules" / "definitions" / "001_sales.yaml"
MARK = "    participants: [manager, sales_head]\n    on_enter:"


@pytest.fixture()
def sales(app, tmp_path):
    text = SALES_FILE.read_text(encoding="utf-8")
    assert MARK in text
    path = tmp_path / "001_sales.yaml"
    path.write_text(text.replace(MARK, "    participants: [manager, sales_head]\n"
                                 "    readonly: [direction, title]\n    on_enter:", 1),
                    encoding="utf-8")
    processes.install_file(path)
    db.session.commit()
    return db.session.scalar(select(Pipeline).where(Pipeline.code == "sales"))


def _deal(client, sales):
    new = db.session.scalar(select(Stage).where(Stage.pipeline_id == sales.id,
                                                Stage.key == "new"))
    manager = db.session.scalar(select(CrmUser).where(CrmUser.username == "manager"))
    resp = client.api("post", "/api/v1/deal/", json={
        "title": "Поставка весов", "pipeline": sales.id, "stage": new.id,
        "responsible": manager.id, "custom": {"direction": "Весы", "priority": "A"}})
    assert resp.status_code == 201, resp.json
    return db.session.get(Deal, resp.json["id"])


def _form(deal, sales, **over):
    data = {"title": deal.title, "pipeline": str(sales.id), "stage": str(deal.stage_id),
            "responsible": str(deal.responsible_id), "version": str(deal.version),
            "budget": "150000", "budget_manual": "y",
            "custom": "1", f"custom__{sales.id}__priority": "B"}
    data.update(over)
    return data


def test_edit_form_disables_readonly_fields(client, sales):
    deal = _deal(client, sales)
    html = client.get(f"/dealview/edit/{deal.id}").get_data(as_text=True)
    direction = html.split(f'name="custom__{sales.id}__direction"')[1].split(">")[0]
    assert "disabled" in direction
    title = html.split('name="title"')[1].split(">")[0] + html.split('id="title"')[0][-200:]
    assert "disabled" in title
    assert f'name="custom__{sales.id}__priority"' in html


def test_form_save_keeps_readonly_values_and_saves_the_rest(client, sales):
    deal = _deal(client, sales)
    data = _form(deal, sales)
    del data["title"]  # a disabled input is not sent
    resp = client.post(f"/dealview/edit/{deal.id}", data=data)
    assert resp.status_code == 302
    db.session.expire_all()
    saved = db.session.get(Deal, deal.id)
    assert saved.title == "Поставка весов"
    assert saved.custom["direction"] == "Весы" and saved.custom["priority"] == "B"


def test_form_change_of_a_readonly_field_is_refused(client, sales):
    deal = _deal(client, sales)
    resp = client.post(f"/dealview/edit/{deal.id}",
                       data=_form(deal, sales, title="Другое название"),
                       follow_redirects=True)
    html = resp.get_data(as_text=True)
    assert "Поле «Название» нельзя менять на этапе «Новая заявка»" in html
    db.session.expire_all()
    saved = db.session.get(Deal, deal.id)
    assert saved.title == "Поставка весов" and saved.custom["priority"] == "A"


def test_api_change_of_a_readonly_custom_field_is_refused(client, sales):
    deal = _deal(client, sales)
    resp = client.api("put", f"/api/v1/deal/{deal.id}", json={
        "custom": {"direction": "Насосы", "priority": "B"}, "version": deal.version})
    assert resp.status_code == 422
    assert resp.json["message"]["direction"] == [
        "Поле «Направление сделки» нельзя менять на этапе «Новая заявка»"]
    db.session.expire_all()
    assert db.session.get(Deal, deal.id).custom == {"direction": "Весы", "priority": "A"}
    ok = client.api("put", f"/api/v1/deal/{deal.id}", json={
        "custom": {"direction": "Весы", "priority": "B"}, "version": deal.version})
    assert ok.status_code == 200, ok.json
