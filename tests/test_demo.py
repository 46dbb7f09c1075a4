"""`flask crm demo`: Russian demo data, valid requisites, a user for every role, records
on every screen."""
from sqlalchemy import func, select

from app.access import access_table
from app.extensions import db
from models.deal import Deal
from models.event import Event
from models.lead import Lead
from models.order import Order
from models.party import Company, Contact
from models.task import Task
from tests.factories import PASSWORD


def test_demo_loads_valid_russian_data(demo_app):
    companies = db.session.scalars(select(Company)).all()
    assert len(companies) >= 5
    assert all(c.check() == {} for c in companies), [c.check() for c in companies]
    assert any(c.kind == "legal" and len(c.inn) == 10 for c in companies)
    assert db.session.scalar(select(func.count(Contact.id))) >= len(companies)
    sm = demo_app.appbuilder.sm
    assert sm.auth_user_db("manager3", PASSWORD) is not None
    for role in access_table().roles:
        assert any(role in {r.name for r in u.roles} for u in sm.get_all_users()), role
    assert "Пользователи: создано" in demo_app.config["_DEMO_OUTPUT"]


def test_demo_fills_every_screen(demo_app):
    deals = db.session.scalars(select(Deal)).all()
    assert len(deals) == 9
    assert all(d.check() == {} and d.budget > 0 for d in deals)
    assert db.session.scalar(select(func.count(Lead.id))) >= 3
    tasks = db.session.scalars(select(Task)).all()
    assert 0 < len(tasks) < len(deals)  # some deals are left with no task
    assert db.session.scalar(select(func.count(Event.id))) >= 3
    orders = db.session.scalars(select(Order)).all()
    assert orders and all(o.total > 0 and o.check() == {} for o in orders)
