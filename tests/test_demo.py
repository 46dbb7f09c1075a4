"""`flask crm demo`: Russian demo data, valid requisites, a user for every role."""
from sqlalchemy import func, select

from app.access import access_table
from app.extensions import db
from models.party import Company, Contact


def test_demo_loads_valid_russian_data(fresh_app, monkeypatch):
    app = fresh_app
    runner = app.test_cli_runner()
    monkeypatch.setenv("DEMO_PASSWORD", "Demo-pass-1")
    result = runner.invoke(args=["crm", "demo", "--deals", "12"])
    assert result.exit_code == 0, result.output
    companies = db.session.scalars(select(Company)).all()
    assert len(companies) >= 6
    assert all(c.check() == {} for c in companies), [c.check() for c in companies]
    assert any(c.kind == "legal" and len(c.inn) == 10 for c in companies)
    assert db.session.scalar(select(func.count(Contact.id))) >= len(companies)
    sm = app.appbuilder.sm
    roles_with_demo_user = {r.name for u in sm.get_all_users() if u.username in
                            ("secretary", "manager3", "director") for r in u.roles}
    assert {"secretary", "manager", "director"} <= roles_with_demo_user
    assert sm.auth_user_db("manager3", "Demo-pass-1") is not None
    for role in access_table().roles:
        assert any(role in {r.name for r in u.roles} for u in sm.get_all_users()), role


def test_demo_fills_every_screen(fresh_app, monkeypatch):
    from models.deal import Deal
    from models.event import Event
    from models.lead import Lead
    from models.order import Order
    from models.task import Task

    monkeypatch.setenv("DEMO_PASSWORD", "Demo-pass-1")
    result = fresh_app.test_cli_runner().invoke(args=["crm", "demo", "--deals", "9"])
    assert result.exit_code == 0, result.output
    deals = db.session.scalars(select(Deal)).all()
    assert len(deals) == 9
    assert all(d.check() == {} and d.budget > 0 for d in deals)
    assert {d.stage.kind for d in deals} >= {"open"}
    assert db.session.scalar(select(func.count(Lead.id))) >= 3
    tasks = db.session.scalars(select(Task)).all()
    assert 0 < len(tasks) < len(deals)  # some deals are left with no task
    assert db.session.scalar(select(func.count(Event.id))) >= 3
    orders = db.session.scalars(select(Order)).all()
    assert orders and all(o.total > 0 and o.check() == {} for o in orders)
