"""Saves arriving together through the REST API (bearer tokens) and the forms (cookies), on
the same and on different records: no save creates a row, every lost race is refused with
«Запись изменена другим пользователем» (409 in the API, the flash on the form), and the
winner of each record is what the database keeps."""
from __future__ import annotations

from app.extensions import db
from models.deal import Deal
from tests.conftest import flashes
from tests.helpers import in_threads, user
from tests.test_pipeline_fixtures import make_deal, make_pipeline

STALE = "Запись изменена другим пользователем"
SAVED = "Изменения сохранены"
WRITERS = ["admin", "sales_head", "manager", "manager2"]


def _form_data(deal, title: str) -> dict:
    return {"title": title, "pipeline": str(deal.pipeline_id), "stage": str(deal.stage_id),
            "budget": "100", "budget_manual": "y", "responsible": str(deal.responsible_id),
            "observers": str(user("manager2").id), "version": "1"}


def _api_save(client, deal_id: int, title: str):
    def call():
        resp = client.api("put", f"/api/v1/deal/{deal_id}", json={"title": title,
                                                                  "version": 1})
        return resp.status_code, str((resp.json or {}).get("message", ""))
    return call


def _form_save(client, deal_id: int, data: dict):
    def call():
        resp = client.post(f"/dealview/edit/{deal_id}", data=data, follow_redirects=True)
        said = " ".join(flashes(resp.get_data(as_text=True)))
        if STALE in said:
            return 409, said
        return (200 if SAVED in said else 500), said
    return call


def _race(app, login, deals, per_deal: list[int]):
    """`per_deal[i]` writers on deals[i], alternating API and form, all released at once.
    Returns [(deal, title, status, message)]."""
    plan, calls = [], []
    for deal, count in zip(deals, per_deal):
        for n in range(count):
            title = f"Правка {deal.id}-{n}"
            client = login(WRITERS[len(calls) % len(WRITERS)])
            if len(calls) % 2 == 0:
                client.api("get", "/api/v1/deal/?q=(page_size:1)")  # the token, before the race
                calls.append(_api_save(client, deal.id, title))
            else:
                calls.append(_form_save(client, deal.id, _form_data(deal, title)))
            plan.append((deal, title))
    outcomes = in_threads(app, calls)
    return [(deal, title, status, said) for (deal, title), (status, said)
            in zip(plan, outcomes)]


def test_saves_at_once_insert_nothing_and_refuse_each_loser(app, login):
    pipeline = make_pipeline()
    for _round in range(3):  # the race is timing: a few rounds make it show every time
        deals = [make_deal(f"Сделка {i}", "manager", pipeline, observers=["manager2"],
                           budget="1") for i in range(3)]
        ids = {d.id for d in deals}
        results = _race(app, login, deals, per_deal=[5, 3, 1])
        db.session.expire_all()
        assert {d.id for d in db.session.query(Deal)} >= ids
        assert db.session.query(Deal).count() == len(ids) * (_round + 1), \
            "a save inserted a new deal"
        for deal in deals:
            mine = [r for r in results if r[0] is deal]
            winners = [r for r in mine if r[2] == 200]
            losers = [r for r in mine if r[2] != 200]
            assert len(winners) == 1, mine
            assert all(status == 409 and STALE in said for _d, _t, status, said in losers), \
                mine
            stored = db.session.get(Deal, deal.id)
            assert stored.title == winners[0][1]
            assert stored.version == 2


def _overtaken(monkeypatch, deal_id: int):
    """Another user's save committed between this request's checks and its write: the
    version the client sent was current when checked, stale when written."""
    import views.base

    real = views.base.route_stage_change

    def overtaken(item, source):
        with db.engine.begin() as other:
            other.execute(Deal.__table__.update().where(Deal.id == deal_id).values(
                title="Сохранено другим", version=Deal.version + 1))
        return real(item, source)

    monkeypatch.setattr(views.base, "route_stage_change", overtaken)


def test_api_save_overtaken_after_its_check_is_a_409_not_a_422(login, monkeypatch):
    deal = make_deal("Сделка", "manager", make_pipeline(), observers=["manager2"])
    client = login("manager")
    client.api("get", "/api/v1/deal/?q=(page_size:1)")
    _overtaken(monkeypatch, deal.id)
    resp = client.api("put", f"/api/v1/deal/{deal.id}", json={"title": "Моя", "version": 1})
    assert resp.status_code == 409, resp.json
    assert STALE in resp.json["message"]
    db.session.expire_all()
    assert db.session.get(Deal, deal.id).title == "Сохранено другим"


def test_form_save_overtaken_after_its_check_says_so(login, monkeypatch):
    deal = make_deal("Сделка", "manager", make_pipeline(), observers=["manager2"], budget="1")
    client = login("manager")
    _overtaken(monkeypatch, deal.id)
    resp = client.post(f"/dealview/edit/{deal.id}", data=_form_data(deal, "Моя"),
                       follow_redirects=True)
    assert any(STALE in f for f in flashes(resp.get_data(as_text=True)))
    db.session.expire_all()
    assert db.session.get(Deal, deal.id).title == "Сохранено другим"
