"""Lookups and builders shared by the test modules (no tests here)."""
from __future__ import annotations

import threading

from sqlalchemy import select

from app.extensions import db
from models.party import Company
from models.reference import ReferenceItem, ReferenceList
from models.user import CrmUser

LEGAL = {"kind": "legal", "name": "ООО «Ромашка»", "inn": "7707083893"}


def user(username: str) -> CrmUser:
    """A user made by conftest (one per role, `manager2`, `outsider`) or by the test."""
    return db.session.scalar(select(CrmUser).where(CrmUser.username == username))


def ref_item(list_code: str, code: str) -> ReferenceItem:
    """A seeded reference item: `ref_item("lead_source", "call")`."""
    return db.session.scalar(select(ReferenceItem).join(ReferenceList).where(
        ReferenceList.code == list_code, ReferenceItem.code == code))


def legal_company(**kw) -> Company:
    """A saved legal-entity counterparty ("ООО «Ромашка»" unless told otherwise)."""
    company = Company(**{**LEGAL, **kw})
    db.session.add(company)
    db.session.commit()
    return company


def in_threads(app, calls, timeout: float = 60) -> list:
    """Runs each call in its own thread and app context, all released at once by a barrier;
    returns their results in order (a call that raised fails the test)."""
    barrier = threading.Barrier(len(calls))
    results, errors = [None] * len(calls), []

    def run(i, call):
        try:
            with app.app_context():
                barrier.wait(timeout=10)
                results[i] = call()
                db.session.remove()
        except Exception as exc:  # noqa: BLE001 - reported by the test
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate(calls)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=timeout)
    assert not errors, errors
    return results
