from models.party import Company
from app.extensions import db


LEGAL = {"kind": "legal", "name": "ООО «Ромашка»", "inn": "7707083893",
         "kpp": "773601001", "ogrn": "1027700132195", "bik": "044525225",
         "correspondent_account": "30101810400000000225"}


def test_company_created_through_form(client):
    resp = client.post("/companyview/add", data=LEGAL, follow_redirects=True)
    assert resp.status_code == 200
    company = db.session.query(Company).one()
    assert company.inn == "7707083893"


def test_wrong_inn_is_refused_at_the_field(client):
    data = {**LEGAL, "inn": "7707083894"}
    resp = client.post("/companyview/add", data=data)
    html = resp.get_data(as_text=True)
    assert resp.status_code == 200
    assert "ИНН указан с ошибкой" in html
    assert 'value="7707083894"' in html  # the input is kept
    assert db.session.query(Company).count() == 0


def test_api_refuses_wrong_ogrn_with_422(client):
    resp = client.api("post", "/api/v1/company/", json={**LEGAL, "ogrn": "1027700132196"})
    assert resp.status_code == 422
    assert "ОГРН" in resp.json["message"]["ogrn"][0]
    assert db.session.query(Company).count() == 0
    ok = client.api("post", "/api/v1/company/", json=LEGAL)
    assert ok.status_code == 201, ok.json
