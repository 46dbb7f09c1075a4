"""`flask crm demo`: Russian demo data, valid requisites, a user for every role, records
on every screen, moved along their processes as a user's records are."""
import ast
from pathlib import Path

from sqlalchemy import func, select

from app.access import access_table
from app.demo import load_demo
from app.extensions import db
from models.attachment import Attachment
from models import requisites as rq
from models.deal import Deal
from models.document import CompanyProfile
from models.event import Event
from models.lead import Lead
from models.order import Order
from models.party import Company, Contact
from models.process import StageHistory
from models.task import Task, TaskStatus
from models.timeline import TimelineEntry
from process.snapshot import current_stage, process_of
from tests.factories import PASSWORD

APP_DIR = Path(__file__).resolve().parent.parent / "app"


def _demo_deals() -> list[Deal]:
    """The deals the demo made itself (a converted lead's deal comes with no lines)."""
    return db.session.scalars(select(Deal).where(Deal.lead_id.is_(None))
                              .order_by(Deal.id)).all()


def _history(entity: str, record_id: int) -> list[StageHistory]:
    return db.session.scalars(select(StageHistory).where(
        StageHistory.entity == entity, StageHistory.record_id == record_id)
        .order_by(StageHistory.id)).all()


def _line(process) -> list[str]:
    """The definition's stages in order, without the lost ones and those beside the line."""
    return [s.key for s in process.stages if s.kind != "lost" and not s.aside]


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
    # our requisites, so the demo's invoices print a bank block and a payment QR
    profile = db.session.scalars(select(CompanyProfile)).one()
    assert profile.name == "ООО «Демо-Офис»"
    assert (rq.inn_error(profile.inn, 10), rq.settlement_account_error(
        profile.account, profile.bik), rq.correspondent_account_error(
        profile.corr_account, profile.bik)) == (None, None, None)
    assert "Реквизиты компании: заполнены демо-данными" in demo_app.config["_DEMO_OUTPUT"]


def test_demo_fills_every_screen(demo_app):
    deals = _demo_deals()
    assert len(deals) == 9
    assert all(d.budget > 0 for d in deals)
    assert all(d.check() == {} for d in db.session.scalars(select(Deal)))
    assert db.session.scalar(select(func.count(Lead.id))) >= 3
    with_task = [d for d in deals if d.has_open_task]
    assert 0 < len(with_task) < len(deals)  # some deals show «Нет задач» in the lists
    assert db.session.scalar(select(func.count(Event.id))) >= 3
    orders = db.session.scalars(select(Order)).all()
    assert orders and all(o.total > 0 and o.check() == {} for o in orders)


def test_demo_deals_pass_every_stage_through_the_process(demo_app):
    """Each demo deal entered its process's first stage and went on stage by stage through
    the transition service, as its responsible: a history row for every stage passed, in
    the definition's order, and a stage entry on its timeline for each."""
    moved = 0
    for deal in _demo_deals():
        process = process_of(deal)
        assert process is not None, deal.pipeline.code
        rows = _history("deal", deal.id)
        keys = [r.stage_key for r in rows]
        assert keys and keys[-1] == deal.stage.key
        passed = keys[:-1] if deal.stage.kind == "lost" else keys
        assert passed == _line(process)[:len(passed)], (process.key, keys)
        assert all(r.source == "demo" and r.entered_by_id == deal.responsible_id
                   for r in rows)
        assert all(r.left_at is not None for r in rows[:-1]) and rows[-1].left_at is None
        stage_entries = db.session.scalar(select(func.count(TimelineEntry.id)).where(
            TimelineEntry.entity == "deal", TimelineEntry.record_id == deal.id,
            TimelineEntry.kind == "stage"))
        assert stage_entries == len(rows)
        moved += len(rows) > 1
    assert moved >= 3


def test_demo_deals_have_the_tasks_their_stages_create(demo_app):
    """The entry actions ran: tasks created by a rule of a stage the deal entered, open on
    the stage it stands on, cancelled on the stages it left."""
    entry_tasks = []
    for deal in _demo_deals():
        process = process_of(deal)
        entered = {r.stage_key for r in _history("deal", deal.id)}
        for task in db.session.scalars(select(Task).where(
                Task.record_entity == "deal", Task.record_id == deal.id,
                Task.rule_key.is_not(None))):
            stage_key, _action = process.rules[task.rule_key]
            assert stage_key in entered, task.rule_key
            if stage_key != deal.stage.key:
                assert task.status == TaskStatus.cancelled.value, task.title
            entry_tasks.append(task)
    assert any(t.status == TaskStatus.open.value for t in entry_tasks)


def test_demo_leads_events_and_orders_have_their_stage_history(demo_app):
    # The events the demo registered itself (event №2 comes from the process).
    for model, entity in ((Lead, "lead"), (Event, "event"), (Order, "order")):
        mine = model.effect_key.is_(None) if model is Event else True
        records = db.session.scalars(select(model).where(mine)).all()
        assert records, entity
        for record in records:
            rows = _history(entity, record.id)
            assert rows and rows[-1].stage_key == current_stage(record), (entity, record.id)


def _custom_words(deal) -> dict:
    """The custom values, a file field by its file's name (ids differ between runs)."""
    files = {f.key for f in process_of(deal).fields if f.type == "file"}
    return {k: db.session.get(Attachment, v).filename if k in files else v
            for k, v in (deal.custom or {}).items()}


def test_demo_is_reproducible_from_its_seed(fresh_app, tmp_path):
    """The same seed walks the same records along the same stages with the same values."""
    fresh_app.config["UPLOAD_DIR"] = str(tmp_path)

    def run() -> list[tuple]:
        before = db.session.scalar(select(func.max(Deal.id))) or 0
        load_demo(deals=5, random_seed=7)
        deals = db.session.scalars(select(Deal).where(Deal.id > before, Deal.lead_id.is_(None))
                                   .order_by(Deal.id)).all()
        return [(d.title, d.pipeline.code, d.stage.key, d.budget, _custom_words(d))
                for d in deals]

    first = run()
    assert first and first == run()


def test_demo_sections_are_an_explicit_list_without_circular_imports():
    """app/demo.py lists the record sections in order; app/demo_records.py never imports
    app/demo.py back, and neither imports inside a function."""
    from app import demo, demo_records

    assert demo.SECTIONS[:2] == [demo_records.demo_leads, demo_records.demo_deals]
    for name in ("demo.py", "demo_records.py", "demo_moves.py"):
        tree = ast.parse((APP_DIR / name).read_text(encoding="utf-8"))
        top = {id(node) for node in tree.body}
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                assert id(node) in top, f"{name}:{node.lineno}: import inside a function"
            if isinstance(node, ast.ImportFrom) and name != "demo.py":
                assert node.module != "app.demo", f"{name} imports app.demo"
