"""Document numbers: one sequence per kind and year, unique and without gaps when several
requests take numbers at once (threads against the same database, SQLite and PostgreSQL),
and a rolled-back request gives its number back. A render job delivered twice makes one
file."""
from __future__ import annotations

import datetime as dt
import time

import time_machine
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError

from app.extensions import db
from errors import DocumentRefused
from jobs.tasks import deliver_outbox
from models.attachment import Attachment
from models.deal import Deal
from models.document import Document, DocumentVersion
from models.outbox import OutboxMessage
from process import documents
from tests.document_helpers import deal_with_items, run_documents
from tests.helpers import in_threads
from tests.test_pipeline_fixtures import make_deal, make_pipeline

THREADS = 6
PER_THREAD = 3


def test_concurrent_requests_take_unique_numbers_without_gaps(app, document_templates):
    pipeline = make_pipeline()
    deal_ids = [make_deal(f"Сделка {i}", "manager", pipeline).id for i in range(THREADS)]

    def request_for(deal_id):
        def call():
            numbers = []
            for _ in range(PER_THREAD):
                document = documents.request(db.session.get(Deal, deal_id), "deal", "invoice")
                numbers.append(document.number_int)
                db.session.commit()
            return numbers
        return call

    results = in_threads(app, [request_for(i) for i in deal_ids])
    taken = sorted(n for numbers in results for n in numbers)
    assert taken == list(range(1, THREADS * PER_THREAD + 1))
    assert db.session.scalar(select(func.count(func.distinct(Document.number_int)))) == \
        THREADS * PER_THREAD


def test_a_rolled_back_request_gives_its_number_back_and_a_new_year_starts_at_one(
        app, document_templates):
    deal = deal_with_items()
    assert documents.request(deal, "deal", "invoice").number == "1"
    db.session.commit()
    assert documents.request(deal, "deal", "invoice").number == "2"
    db.session.rollback()
    assert documents.request(db.session.get(Deal, deal.id), "deal", "invoice").number == "2"
    db.session.commit()
    with time_machine.travel(dt.datetime(2027, 1, 1, 9, 0, tzinfo=dt.timezone.utc)):
        next_year = documents.request(db.session.get(Deal, deal.id), "deal", "invoice")
        db.session.commit()
    assert (next_year.year, next_year.number) == (2027, "1")


def test_a_render_job_delivered_twice_makes_one_file(app, document_templates):
    deal = deal_with_items()
    document = documents.request(deal, "deal", "invoice")
    db.session.commit()
    row_id = db.session.scalar(select(OutboxMessage.id).where(
        OutboxMessage.document_version_id == document.latest.id))
    # two copies of the job: a retry after a lost acknowledgement, two schedulers
    db.session.get(OutboxMessage, row_id).status = "enqueued"
    db.session.commit()
    first = deliver_outbox([row_id])
    second = deliver_outbox([row_id])
    assert (first["done"], second["skipped"]) == (1, 1)
    assert db.session.scalar(select(func.count()).select_from(Attachment)) == 1
    assert db.session.get(DocumentVersion, document.latest.id).status == "ready"


def test_two_people_regenerating_at_once_make_one_new_version(app, document_templates):
    deal = deal_with_items()
    document = documents.request(deal, "deal", "invoice")
    db.session.commit()
    run_documents()
    document_id = document.id

    def regenerate():
        try:
            documents.regenerate(db.session.get(Document, document_id))
            db.session.commit()
            return "new version"
        except DocumentRefused as exc:
            db.session.rollback()
            return exc.message
        except OperationalError:  # SQLite: the other writer held the lock past the timeout
            db.session.rollback()
            return "busy"

    results = in_threads(app, [regenerate, regenerate])
    assert results.count("new version") == 1, results
    db.session.expire_all()
    assert [v.version for v in db.session.get(Document, document_id).versions] == [1, 2]


def test_two_users_regenerating_at_once_make_one_version(app, document_templates):
    """The second waits for the first and is told the document is being rendered; on
    SQLite (no row locks) it may instead collide on the version number: refused either
    way, and one new version."""
    from errors import CrmError
    from views.errors import refusing_database_errors

    deal = deal_with_items()
    document = documents.request(deal, "deal", "invoice")
    db.session.commit()
    deliver_outbox([db.session.scalar(select(OutboxMessage.id).where(
        OutboxMessage.document_version_id == document.latest.id))])

    def regenerate():
        try:
            with refusing_database_errors():
                version = documents.regenerate(db.session.get(Document, document.id))
                time.sleep(0.3)  # the other thread reads the versions meanwhile
                db.session.commit()
            return version.version
        except CrmError as exc:
            db.session.rollback()
            return exc.message

    results = in_threads(app, [regenerate, regenerate])
    assert sorted(results, key=str)[0] == 2, results
    refusal = next(r for r in results if r != 2)
    if db.engine.dialect.name == "postgresql":
        assert refusal == f"Документ № {document.number} ещё формируется"
    db.session.expire_all()
    assert [v.version for v in db.session.get(Document, document.id).versions] == [1, 2]
