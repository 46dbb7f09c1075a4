"""What a move reads again and again is read once per transaction (a role's members, the
record's first file, the related records a commit expired), and never answers what the
database no longer says: a change in the same transaction, a bulk write, a commit. The bin's
criteria are added only where they change the SQL, and still hide binned rows wherever a
statement reads them."""
from __future__ import annotations

import datetime as dt
import io
import re
from contextlib import contextmanager

import pytest
from sqlalchemy import event, select, text, update

from app.attachments import save_upload
from app.extensions import db
from models.attachment import Attachment
from models.deal import Deal, DealItem
from models.party import Company
from models.pipeline import Stage
from models.trash import SHOW_BINNED
from process.people import users_with_role
from process.snapshot import record_values
from tests.factories import make_user
from tests.process_flow_helpers import install, stage, user

PDF = b"%PDF-1.4 test file"


@contextmanager
def statements():
    """The SQL the session sends meanwhile."""
    sent = []

    def note(_conn, _cursor, statement, *_args):
        sent.append(statement)

    event.listen(db.engine, "before_cursor_execute", note)
    try:
        yield sent
    finally:
        event.remove(db.engine, "before_cursor_execute", note)


def _reading(sent, table):
    return [s for s in sent if s.lstrip().upper().startswith("SELECT")
            and re.search(rf"\bFROM {table}\b", s)]


@pytest.fixture()
def sales(app):
    return install("001_sales.yaml", "sales")


@pytest.fixture()
def deal(sales):
    found = Deal(title="Поставка весов", pipeline=sales, stage=stage(sales, "new"),
                 responsible_id=user("manager").id)
    db.session.add(found)
    db.session.commit()
    return found


def _names(role):
    return [u.username for u in users_with_role(role)]


def test_a_roles_members_are_read_once_a_transaction_and_again_after_a_change(app):
    with statements() as sent:
        first = _names("manager")
        assert _names("manager") == first
    assert len(_reading(sent, "ab_user")) == 1
    assert {"manager", "manager2", "outsider"} <= set(first)

    # A member added in this very transaction, not flushed yet: the database answers.
    newcomer = make_user("manager3", ["manager"])  # committed
    assert "manager3" in _names("manager")
    newcomer.active = False
    assert "manager3" not in _names("manager")
    db.session.rollback()

    # Another connection takes a member out of the role and commits: the next transaction
    # does not keep the old answer.
    assert "manager3" in _names("manager")
    db.session.commit()
    with db.engine.begin() as conn:
        conn.execute(text("DELETE FROM ab_user_role WHERE user_id = :u"), {"u": newcomer.id})
    assert "manager3" not in _names("manager")


def test_a_bulk_write_to_the_roles_forgets_their_members(app):
    newcomer = make_user("manager3", ["manager"])
    assert "manager3" in _names("manager")
    db.session.execute(text("DELETE FROM ab_user_role WHERE user_id = :u"),
                       {"u": newcomer.id})
    assert "manager3" not in _names("manager")


def test_a_records_first_file_is_read_once_and_again_after_its_files_change(app, deal):
    with statements() as sent:
        assert record_values(deal).get("kp_file") is None
        assert record_values(deal).get("kp_file") is None
    assert len(_reading(sent, "attachment")) == 1

    # A file attached in this transaction fills the empty file fields from then on.
    attachment = save_upload(io.BytesIO(PDF), "КП.pdf", "deal", deal.id,
                             user_id=user("manager").id)
    assert record_values(deal)["kp_file"] == attachment.id

    # The bin takes the files with a bulk UPDATE: the kept answer goes with them.
    table = Attachment.__table__
    db.session.execute(update(table).where(table.c.id == attachment.id)
                       .values(deleted_at=dt.datetime(2026, 1, 1)))
    assert record_values(deal).get("kp_file") is None
    db.session.rollback()
    assert record_values(deal).get("kp_file") is None


def test_a_file_added_by_another_request_is_seen_after_the_commit(app, deal):
    assert record_values(deal).get("kp_file") is None
    db.session.commit()
    with db.engine.begin() as conn:
        conn.execute(Attachment.__table__.insert().values(
            entity="deal", record_id=deal.id, filename="КП.pdf", storage_name="aa/kp",
            size=len(PDF), content_type="application/pdf", sha256="0" * 64,
            uploaded_at=dt.datetime(2026, 1, 1)))
    assert record_values(deal)["kp_file"] is not None


def test_related_records_a_commit_expired_give_their_ids_without_being_loaded(app, sales,
                                                                               deal):
    held = stage(sales, "new")  # the session holds the stage and the pipeline
    buyer, other = Company(kind="person", name="Покупатель"), Company(kind="person", name="Другой")
    db.session.add_all([buyer, other])
    deal.company = buyer
    db.session.commit()  # all of them expired, as after any commit
    with statements() as sent:
        values = record_values(deal)
    assert (values["stage"], values["pipeline"], values["company"]) == \
        (held.id, sales.id, buyer.id)
    assert not [s for s in sent if re.search(r"\bFROM (stage|pipeline|company)\b", s)]

    # Set in this transaction and not flushed: the new one, as before.
    deal.company = other
    assert record_values(deal)["company"] == other.id
    assert record_values(deal)["responsible"] == user("manager").id


def _bin(model, row_id):
    table = model.__table__
    db.session.execute(update(table).where(table.c.id == row_id)
                       .values(deleted_at=dt.datetime(2026, 1, 1)))
    db.session.commit()


def test_the_bins_criteria_hide_binned_rows_wherever_a_statement_reads_them(app, sales):
    kept = Deal(title="Оставленная", pipeline=sales, stage=stage(sales, "new"))
    binned = Deal(title="В корзине", pipeline=sales, stage=stage(sales, "in_work"))
    db.session.add_all([kept, binned])
    db.session.flush()
    db.session.add_all([DealItem(deal_id=kept.id, name="Гиря", quantity=1, price=1),
                        DealItem(deal_id=binned.id, name="Весы", quantity=1, price=1)])
    db.session.commit()
    _bin(Deal, binned.id)

    joined = select(Stage.key).join(Deal, Deal.stage_id == Stage.id) \
        .where(Stage.pipeline_id == sales.id)
    items = select(DealItem.name)
    in_subquery = select(Stage.key).where(Stage.id.in_(select(Deal.stage_id)))
    for _ in range(2):  # the same statement objects again: still hidden
        assert db.session.scalars(joined).all() == ["new"]
        assert db.session.scalars(items).all() == ["Гиря"]
        assert db.session.scalars(in_subquery).all() == ["new"]
    assert sorted(db.session.scalars(joined.execution_options(**SHOW_BINNED))) == \
        ["in_work", "new"]

    # A statement that reads nothing binnable goes as it is.
    with statements() as sent:
        db.session.scalars(select(Stage.key).where(Stage.pipeline_id == sales.id)).all()
    assert "deleted_at" not in sent[-1]
