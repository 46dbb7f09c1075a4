"""Seed 002's lead pipeline through the real app: the yes/no quality check converts the lead
into a counterparty, a contact and a deal, or sends it to «Некачественный» with a reason."""
import pytest
from sqlalchemy import select

from process import catalog as processes
from app.extensions import db
from config import BASE_DIR
from models.deal import Deal
from models.lead import Lead
from models.party import Company, Contact
from models.pipeline import Pipeline, Stage
from models.reference import ReferenceItem
from models.task import Task
from models.user import CrmUser

DEFINITIONS = BASE_DIR / "rules" / "definitions"
PROCESSING = {"company_short_name": "ООО «Эко»", "decision_maker": "Зуев Павел Игоревич",
              "company_contacts": "+7 495 100-00-00", "decision_maker_contacts": "zuev@eco.ru",
              "company_postal_address": "г. Москва, ул. Ленина, 1",
              "decision_maker_postal_address": "г. Москва, ул. Ленина, 1"}


@pytest.fixture()
def eco(app):
    for name in ("002_deals.yaml", "002_leads.yaml"):
        processes.install_file(DEFINITIONS / name)
    db.session.commit()
    return db.session.scalar(select(Pipeline).where(Pipeline.code == "eco_leads"))


def _stage(pipeline, key):
    return db.session.scalar(select(Stage).where(Stage.pipeline_id == pipeline.id,
                                                 Stage.key == key))


def _lead(client, eco, **extra):
    manager = db.session.scalar(select(CrmUser).where(CrmUser.username == "manager"))
    resp = client.api("post", "/api/v1/lead/", json={
        "title": "Запрос на эко-упаковку", "pipeline": eco.id,
        "stage": _stage(eco, "processing").id, "responsible": manager.id,
        "company_name": "Общество с ограниченной ответственностью «Эко»",
        "phone": "+7 495 100-00-00", "email": "info@eco.ru", **extra})
    assert resp.status_code == 201, resp.json
    return db.session.get(Lead, resp.json["id"])


def test_processing_requires_the_company_and_decision_maker_data(client, eco):
    resp = client.api("post", "/api/v1/lead/", json={
        "title": "Запрос", "pipeline": eco.id, "stage": _stage(eco, "processing").id,
        "company_name": "ООО «Эко»"})
    assert resp.status_code == 422
    assert "decision_maker" in resp.json["message"]
    assert db.session.query(Lead).count() == 0


def test_yes_converts_the_lead_into_company_contact_and_deal(client, eco):
    lead = _lead(client, eco, custom=PROCESSING)
    assert [t.title for t in db.session.scalars(select(Task))] == ["Проверка качественного лида"]
    db.session.refresh(lead)
    resp = client.api("put", f"/api/v1/lead/{lead.id}", json={
        "custom": {**PROCESSING, "is_quality": True}, "version": lead.version})
    assert resp.status_code == 200, resp.json
    db.session.expire_all()
    lead = db.session.get(Lead, lead.id)
    assert lead.stage.key == "converted" and lead.converted_at is not None
    company = db.session.scalar(select(Company))
    contact = db.session.scalar(select(Contact))
    assert company.name == "ООО «Эко»" and contact.last_name == "Зуев"
    deal = db.session.scalar(select(Deal))
    assert deal.lead_id == lead.id and deal.company_id == company.id
    assert deal.pipeline.code == "eco_deals" and [c.id for c in deal.contacts] == [contact.id]
    assert lead.company_id == company.id and lead.contact_id == contact.id


def test_an_existing_contact_is_linked_not_duplicated(client, eco):
    existing = Company(kind="legal", name="Эко", email="info@eco.ru", inn="7707083893")
    db.session.add(existing)
    db.session.add(Contact(last_name="Зуев", company=existing, email="info@eco.ru"))
    db.session.commit()
    lead = _lead(client, eco, custom=PROCESSING)
    db.session.refresh(lead)
    client.api("put", f"/api/v1/lead/{lead.id}", json={
        "custom": {**PROCESSING, "is_quality": True}, "version": lead.version})
    assert db.session.query(Company).count() == 1
    assert db.session.query(Contact).count() == 1
    assert db.session.scalar(select(Deal)).company_id == existing.id


def test_no_sends_the_lead_to_bad_and_needs_a_reason(client, eco):
    lead = _lead(client, eco, custom=PROCESSING)
    db.session.refresh(lead)
    resp = client.api("put", f"/api/v1/lead/{lead.id}", json={
        "custom": {**PROCESSING, "is_quality": False}, "version": lead.version})
    assert resp.status_code == 422
    assert "quality_reason" in resp.json["message"]
    db.session.expire_all()
    assert db.session.get(Lead, lead.id).stage.key == "processing"
    assert db.session.query(Deal).count() == 0


def _convert(client, lead):
    db.session.refresh(lead)
    resp = client.api("put", f"/api/v1/lead/{lead.id}", json={
        "custom": {**PROCESSING, "is_quality": True}, "version": lead.version})
    assert resp.status_code == 200, resp.json
    db.session.expire_all()
    return db.session.get(Lead, lead.id)


def test_two_leads_of_one_company_by_inn_make_one_company(client, eco):
    first = _convert(client, _lead(client, eco, custom=PROCESSING, inn="7707083893",
                                   company_full_name='ООО "Эко-Пак"'))
    company = db.session.scalar(select(Company))
    assert (company.inn, company.full_name, company.kind) == \
        ("7707083893", 'ООО "Эко-Пак"', "legal")
    # Another spelling, another person, another phone and e-mail: the INN decides.
    second = _convert(client, _lead(
        client, eco, custom={**PROCESSING, "company_short_name": "Экопак"},
        inn="7707083893", company_name="ЭКО ПАК", company_full_name="Эко Пак",
        phone="+7 812 000-00-00", email="sales@ecopak.ru"))
    assert db.session.query(Company).count() == 1
    assert first.company_id == second.company_id == company.id
    assert {d.company_id for d in db.session.scalars(select(Deal))} == {company.id}


def test_without_inn_the_full_name_matches_in_any_spelling(client, eco):
    existing = Company(kind="legal", name="Ромашка", inn="7707083893",
                       full_name='Общество с ограниченной ответственностью "Ромашка"')
    other = Company(kind="legal", name="Ромашка-Юг", inn="500100732259",
                    email="info@eco.ru")  # the lead's e-mail, but another INN and name
    db.session.add_all([existing, other])
    db.session.commit()
    lead = _convert(client, _lead(client, eco, custom=PROCESSING,
                                  company_full_name="  ООО «РОМАШКА» "))
    assert db.session.query(Company).count() == 2
    assert lead.company_id == existing.id
    assert db.session.scalar(select(Deal)).company_id == existing.id


def test_a_company_with_another_inn_is_not_taken_by_phone(client, eco):
    stranger = Company(kind="legal", name="Другая", inn="500100732259",
                       phone="+7 495 100-00-00", email="info@eco.ru")
    db.session.add(stranger)
    db.session.commit()
    lead = _convert(client, _lead(client, eco, custom=PROCESSING, inn="7707083893"))
    assert db.session.query(Company).count() == 2
    assert lead.company.inn == "7707083893" and lead.company_id != stranger.id


def test_name_key_ignores_quotes_case_and_the_spelled_out_legal_form():
    from models.party import name_key

    assert name_key('ООО "Ромашка"') == name_key("ООО «Ромашка»") == \
        name_key(" общество с ограниченной ответственностью «РОМАШКА» ") == "ооо ромашка"
    assert name_key("ООО «Ромашка»") != name_key("ООО «Ромашка-Юг»")
    assert name_key(None) == ""


def test_a_jump_over_the_intro_call_asks_for_its_activity_too(client, eco):
    """«Новый лид» → «Обработка запроса» passes «Звонок-знакомство»: its «вид деятельности»
    is asked for with the fields of «Обработка запроса», each once."""
    resp = client.api("post", "/api/v1/lead/", json={
        "title": "Запрос", "pipeline": eco.id, "stage": _stage(eco, "new").id,
        "company_name": "ООО «Эко»"})
    assert resp.status_code == 201, resp.json
    lead_id = resp.json["id"]

    def jump(**extra):
        db.session.expire_all()
        version = db.session.get(Lead, lead_id).version
        return client.api("put", f"/api/v1/lead/{lead_id}", json={
            "version": version, "stage": _stage(eco, "processing").id, "custom": PROCESSING,
            **extra})

    refused = jump()
    assert refused.status_code == 422, refused.json
    assert set(refused.json["message"]) == {"client_activity"}
    assert refused.json["message"]["client_activity"] == [
        "Заполните поле «Вид деятельности»: оно обязательно, начиная с этапа "
        "«Звонок-знакомство»"]
    assert db.session.get(Lead, lead_id).stage.key == "new"
    # «другое» needs its own words, asked for at the same jump
    other = db.session.scalar(select(ReferenceItem).where(ReferenceItem.code == "other",
                                                          ReferenceItem.list.has(code="client_activity")))
    refused = jump(client_activity=other.id)
    assert refused.status_code == 422, refused.json
    assert set(refused.json["message"]) == {"activity_other"}
    production = db.session.scalar(select(ReferenceItem).where(
        ReferenceItem.code == "production", ReferenceItem.list.has(code="client_activity")))
    assert jump(client_activity=production.id).status_code == 200
    db.session.expire_all()
    assert db.session.get(Lead, lead_id).stage.key == "processing"
