"""Requests arriving together: seed 001's new requests, created at the same moment, go to
different managers (the least busy one is counted under a lock, not twice)."""
import pytest
from sqlalchemy import select

from app.extensions import db
from models.task import Task
from tests.helpers import in_threads
from tests.process_flow_helpers import install, stage, user


@pytest.fixture()
def sales(app):
    return install("001_sales.yaml", "sales")


def test_requests_arriving_together_go_to_different_managers(app, login, sales):
    managers = {u.id for u in db.session.scalars(select(type(user("manager"))))
                if "manager" in {r.name for r in u.roles}}
    heads = [login("sales_head") for _ in managers]
    for head in heads:  # each takes its token before the race
        assert head.api("get", "/api/v1/deal/?q=(page_size:1)").status_code == 200

    def create(head, i):
        return lambda: head.api("post", "/api/v1/deal/", json={
            "title": f"Заявка {i}", "pipeline": sales.id,
            "stage": stage(sales, "new").id}).status_code

    codes = in_threads(app, [create(h, i) for i, h in enumerate(heads)])
    assert codes == [201] * len(heads)
    db.session.expire_all()
    assignees = [t.assignee_id for t in db.session.scalars(
        select(Task).where(Task.title == "Взять заявку в работу"))]
    assert len(assignees) == len(managers)
    assert set(assignees) == managers  # one request each, none twice
