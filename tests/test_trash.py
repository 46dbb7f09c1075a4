"""«Корзина»: deleting a business record (form or API) moves it to the recycle bin with its
tasks and files; it is hidden everywhere until the admin restores it (same ids) or purges
it; a daily job purges it after TRASH_RETENTION_DAYS, files included; the audit log keeps
who deleted, restored and purged; a binned record's reminders wait."""
from __future__ import annotations

import datetime as dt
import io
from pathlib import Path

import pytest
import time_machine
from sqlalchemy import func, select

from app.attachments import path_of, save_upload
from app.extensions import db
from app.scope import can_see
from jobs import scheduler
from jobs.runner import InlineRunner
from jobs.stats import schedule_counts
from models.attachment import Attachment
from models.audit import AuditLog
from models.base import utcnow
from models.deal import Deal, DealItem
from models.notification import Notification
from models.party import Company
from models.registry import get_record
from models.schedule import ScheduledAction
from models.task import Task
from models.timeline import TimelineEntry
from models.trash import SHOW_BINNED, TrashBatch
from process.trash import PURGE_JOB_KEY, ensure_purge_scheduled
from tests.conftest import flashes
from tests.process_flow_helpers import msk
from tests.test_pipeline_fixtures import make_deal, make_pipeline
from tests.helpers import user

T0 = msk(2026, 12, 1, 10, 0)
PDF = b"%PDF-1.4\n" + bytes(range(256)) * 8 + b"\n%%EOF\n"
DEAL = "Поставка упаковки «Эко»"
TASKS = ("Позвонить клиенту по поставке", "Отправить КП по поставке")


@pytest.fixture()
def clock():
    # Frozen before anyone logs in: a session signed later than the clock would be refused.
    with time_machine.travel(T0, tick=False) as traveller:
        yield traveller


@pytest.fixture()
def deal(app, clock):
    """A manager's deal with two open tasks and a file."""
    found = make_deal(DEAL, "manager", make_pipeline())
    for title in TASKS:
        db.session.add(Task(title=title, record_entity="deal", record_id=found.id,
                            assignee_id=user("manager").id, creator_id=user("manager").id))
    save_upload(io.BytesIO(PDF), "Договор поставки.pdf", "deal", found.id,
                user_id=user("manager").id)
    db.session.commit()
    return found


def _ids(model, **where):
    query = select(model.id).where(*(getattr(model, k) == v for k, v in where.items()))
    return list(db.session.scalars(query.order_by(model.id)
                                   .execution_options(**SHOW_BINNED)))


def _parts(deal_id):
    """The ids of the deal's tasks and files, whether in the bin or not."""
    return {"tasks": _ids(Task, record_entity="deal", record_id=deal_id),
            "files": _ids(Attachment, entity="deal", record_id=deal_id)}


def _file(att_id) -> Path:
    return path_of(db.session.get(Attachment, att_id, execution_options=SHOW_BINNED))


def _batch() -> TrashBatch:
    return db.session.scalar(select(TrashBatch))


def _audit(action):
    return list(db.session.scalars(select(AuditLog).where(AuditLog.action == action)
                                   .order_by(AuditLog.id)))


def _assert_hidden(app, deal_id, parts, *viewers):
    """Nobody finds the deal, its tasks or its file: lists, pages, API, exports, «Мои
    задачи», the home page, downloads, the registry and the row rules."""
    db.session.expire_all()
    assert get_record("deal", deal_id) is None
    assert all(get_record("task", t) is None for t in parts["tasks"])
    assert db.session.scalar(select(func.count(Deal.id))) == 0
    assert db.session.scalar(select(func.count(Task.id))) == 0
    for client in viewers:
        pages = [client.get(url).get_data(as_text=True)
                 for url in ("/dealview/list/", "/taskview/list/", "/mytaskview/list/", "/",
                             "/dealview/export/", "/taskview/export/")]
        for page in pages:
            assert DEAL not in page and not any(t in page for t in TASKS)
        assert client.get(f"/dealview/show/{deal_id}").status_code == 404
        assert client.get(f"/taskview/show/{parts['tasks'][0]}").status_code == 404
        assert client.api("get", f"/api/v1/deal/{deal_id}").status_code == 404
        assert client.api("get", "/api/v1/deal/").json["count"] == 0
        assert client.api("get", f"/api/v1/task/{parts['tasks'][0]}").status_code == 404
        assert client.api("get", "/api/v1/task/").json["count"] == 0
        att = parts["files"][0]
        assert client.get(f"/crm/attachment/download/{att}").status_code == 404
        assert client.api("get", f"/api/v1/attachment/{att}/content").status_code == 404
        assert client.api("get", f"/api/v1/timeline/deal/{deal_id}").status_code in (403, 404)
    record = db.session.get(Deal, deal_id, execution_options=SHOW_BINNED)
    assert not can_see(record, user("admin"))


def test_form_delete_moves_the_deal_with_its_tasks_and_file_to_the_bin(app, login, deal):
    parts = _parts(deal.id)
    assert len(parts["tasks"]) == 2 and len(parts["files"]) == 1
    head = login("sales_head")
    resp = head.post(f"/dealview/delete/{deal.id}", follow_redirects=True)
    assert resp.status_code == 200
    assert "Запись перемещена в корзину" in flashes(resp.get_data(as_text=True))
    _assert_hidden(app, deal.id, parts, login("manager"), login("admin"))
    # Still there, and its file still on disk, until the bin lets it go.
    assert _ids(Deal) == [deal.id] and _parts(deal.id) == parts
    assert _file(parts["files"][0]).is_file()
    batch = _batch()
    assert (batch.entity, batch.record_id, batch.title) == ("deal", deal.id, DEAL)
    assert batch.summary == "2 задачи, 1 файл"
    assert batch.deleted_by_id == user("sales_head").id
    assert batch.purge_at == batch.deleted_at + dt.timedelta(days=30)


def test_api_delete_moves_to_the_bin_with_the_same_answer(app, login, deal):
    parts = _parts(deal.id)
    assert login("manager").api("delete", f"/api/v1/deal/{deal.id}").status_code == 403
    resp = login("sales_head").api("delete", f"/api/v1/deal/{deal.id}")
    assert resp.status_code == 200, resp.json
    _assert_hidden(app, deal.id, parts, login("manager"))
    # Deleted again: it is not there any more.
    assert login("sales_head").api("delete", f"/api/v1/deal/{deal.id}").status_code == 404
    assert db.session.scalar(select(func.count(TrashBatch.id))) == 1


def test_the_deal_items_are_hidden_with_their_deal(app, login, deal):
    db.session.add(DealItem(deal_id=deal.id, name="Коробка", quantity=2, price=10))
    db.session.commit()
    admin = login("admin")
    assert admin.api("get", "/api/v1/deal_item/").json["count"] == 1
    admin.post(f"/dealview/delete/{deal.id}")
    assert admin.api("get", "/api/v1/deal_item/").json["count"] == 0
    assert "Коробка" not in admin.get("/dealitemview/list/").get_data(as_text=True)


def test_admin_restores_the_whole_batch_with_the_same_ids(app, login, deal):
    parts = _parts(deal.id)
    login("sales_head").post(f"/dealview/delete/{deal.id}")
    admin = login("admin")
    page = admin.get("/trashview/list/").get_data(as_text=True)
    for text in ("Корзина", "Сделка", DEAL, "2 задачи, 1 файл", str(user("sales_head")),
                 "Удалится навсегда"):
        assert text in page
    batch_id = _batch().id
    shown = admin.get(f"/trashview/show/{batch_id}").get_data(as_text=True)
    assert "Восстановить" in shown and "Удалить навсегда" in shown

    resp = admin.post(f"/trashview/action/restore/{batch_id}", follow_redirects=True)
    assert f"Восстановлено: Сделка «{DEAL}»" in flashes(resp.get_data(as_text=True))
    db.session.expire_all()
    assert _batch() is None
    assert get_record("deal", deal.id) is not None
    assert _parts(deal.id) == parts and all(get_record("task", t) for t in parts["tasks"])
    manager = login("manager")
    assert manager.get(f"/dealview/show/{deal.id}").status_code == 200
    mine = manager.get("/mytaskview/list/").get_data(as_text=True)
    assert all(t in mine for t in TASKS)
    download = manager.get(f"/crm/attachment/download/{parts['files'][0]}")
    assert download.status_code == 200 and download.data == PDF
    # The restored record keeps its version: a form opened before still saves.
    assert db.session.get(Deal, deal.id).version == 1


def test_the_audit_log_keeps_who_deleted_restored_and_purged(app, login, deal):
    parts = _parts(deal.id)
    login("sales_head").post(f"/dealview/delete/{deal.id}")
    admin = login("admin")
    admin.post(f"/trashview/action/restore/{_batch().id}")
    login("sales_head").api("delete", f"/api/v1/deal/{deal.id}")
    admin.post(f"/trashview/action/purge/{_batch().id}")
    expected = sorted([("attachment", a) for a in parts["files"]] + [("deal", deal.id)]
                      + [("task", t) for t in parts["tasks"]])
    for action, who in (("trash", "sales_head"), ("restore", "admin"), ("purge", "admin")):
        rows = _audit(action)
        if action == "trash":
            rows = rows[:len(expected)]  # deleted twice: the first time is enough here
        assert sorted((r.entity, r.record_id) for r in rows) == expected, action
        assert {r.user_id for r in rows} == {user(who).id}, action
    (first,) = [r for r in _audit("trash") if r.entity == "deal"][:1]
    assert first.changes["with"] == [None, "2 задачи, 1 файл"]
    page = admin.get("/auditlogview/list/").get_data(as_text=True)
    for words in ("Перемещено в корзину", "Восстановлено из корзины", "Удалено навсегда",
                  "Вместе с записью: 2 задачи, 1 файл", f"Относится к записи: Сделка «{DEAL}»"):
        assert words in page


def test_only_the_admin_sees_and_empties_the_bin(app, login, deal):
    login("sales_head").post(f"/dealview/delete/{deal.id}")
    batch_id = _batch().id
    for role in ("manager", "sales_head", "director"):
        client = login(role)
        assert client.get("/trashview/list/").status_code in (302, 403), role
        assert client.get(f"/trashview/show/{batch_id}").status_code in (302, 403), role
        client.post(f"/trashview/action/restore/{batch_id}")
        client.post(f"/trashview/action/purge/{batch_id}")
        client.post("/trashview/action_post", data={"action": "purge", "rowid": [batch_id]})
    db.session.expire_all()
    assert _batch() is not None and get_record("deal", deal.id) is None
    assert login("admin").get("/trashview/list/").status_code == 200


def test_purge_now_asks_first_and_removes_rows_history_and_file(app, login, deal):
    parts = _parts(deal.id)
    login("sales_head").post(f"/dealview/delete/{deal.id}")
    stored = _file(parts["files"][0])
    admin = login("admin")
    batch_id = _batch().id
    question = admin.get(f"/trashview/confirm_purge/{batch_id}").get_data(as_text=True)
    assert "Восстановить будет нельзя" in question and DEAL in question
    assert stored.is_file()  # asking deleted nothing
    resp = admin.post(f"/trashview/action/purge/{batch_id}", follow_redirects=True)
    assert f"Удалено навсегда: Сделка «{DEAL}»" in flashes(resp.get_data(as_text=True))
    _assert_purged(deal.id, parts, stored)


def _assert_purged(deal_id, parts, stored: Path):
    db.session.expire_all()
    assert _ids(Deal) == [] and _parts(deal_id) == {"tasks": [], "files": []}
    assert _ids(TimelineEntry, entity="deal", record_id=deal_id) == []
    assert _batch() is None
    assert not stored.exists()


def test_after_the_retention_the_daily_job_purges_and_restore_is_refused(app, login, deal,
                                                                       clock):
    parts = _parts(deal.id)
    login("sales_head").post(f"/dealview/delete/{deal.id}")
    stored = _file(parts["files"][0])
    ensure_purge_scheduled()
    db.session.commit()
    clock.move_to(T0 + dt.timedelta(days=29))
    scheduler.tick(runner=InlineRunner())
    assert _batch() is not None and stored.is_file()  # not yet

    clock.move_to(T0 + dt.timedelta(days=30, minutes=1))
    resp = login("admin").post(f"/trashview/action/restore/{_batch().id}",
                               follow_redirects=True)
    assert any("срок хранения в корзине (30 дн.) истёк" in m
               for m in flashes(resp.get_data(as_text=True)))
    assert scheduler.tick(runner=InlineRunner()).schedule == 1
    _assert_purged(deal.id, parts, stored)
    rows = _audit("purge")
    assert len(rows) == 4 and {r.user_id for r in rows} == {None}  # the system
    # The job carries itself to the next day.
    job = db.session.scalar(select(ScheduledAction)
                            .where(ScheduledAction.effect_key == PURGE_JOB_KEY))
    db.session.refresh(job)
    assert job.status == "pending" and job.last_error is None
    assert job.due_at == (T0 + dt.timedelta(days=31, minutes=1)).astimezone(
        dt.timezone.utc).replace(tzinfo=None)


def test_the_cli_purges_what_is_past_the_retention(app, login, deal, clock, runner):
    parts = _parts(deal.id)
    login("sales_head").post(f"/dealview/delete/{deal.id}")
    stored = _file(parts["files"][0])
    assert "Удалено навсегда: 0" in runner.invoke(args=["crm", "trash", "purge"]).output
    clock.move_to(T0 + dt.timedelta(days=31))
    assert "Удалено навсегда: 1" in runner.invoke(args=["crm", "trash", "purge"]).output
    _assert_purged(deal.id, parts, stored)


def test_a_reminder_of_a_binned_deal_waits_and_comes_after_the_restore(app, login, deal, clock):
    db.session.add(ScheduledAction(action="remind", entity="deal", record_id=deal.id,
                                   due_at=(T0 + dt.timedelta(minutes=5)).astimezone(
                                       dt.timezone.utc).replace(tzinfo=None),
                                   params={"to": [{"user": "manager"}],
                                           "text": "Перезвонить по поставке"},
                                   effect_key="test:remind"))
    db.session.commit()
    login("sales_head").post(f"/dealview/delete/{deal.id}")
    clock.move_to(T0 + dt.timedelta(minutes=10))
    assert scheduler.tick(runner=InlineRunner()).schedule == 0
    assert db.session.scalar(select(func.count(Notification.id))) == 0
    row = db.session.scalar(select(ScheduledAction).where(ScheduledAction.action == "remind"))
    assert row.status == "pending" and row.trash_batch_id == _batch().id
    assert schedule_counts(utcnow())["pending_due"] == 0  # nothing late for the admin

    login("admin").post(f"/trashview/action/restore/{_batch().id}")
    # Its time passed while the deal was in the bin: it comes at the next pass, as after
    # downtime.
    assert scheduler.tick(runner=InlineRunner()).schedule == 1
    assert [n.text for n in db.session.scalars(select(Notification))] == [
        "Перезвонить по поставке"]


def test_a_company_deals_point_at_is_refused_and_restored_after_its_deal(app, login, deal):
    company = Company(kind="legal", name="ООО «Эко»", inn="7707083893")
    db.session.add(company)
    db.session.commit()
    deal.company_id = company.id
    db.session.commit()
    director = login("director")
    resp = director.post(f"/companyview/delete/{company.id}", follow_redirects=True)
    assert any(f"на него ссылается сделка «{DEAL}»" in m
               for m in flashes(resp.get_data(as_text=True)))
    assert director.api("delete", f"/api/v1/company/{company.id}").status_code == 409
    assert get_record("company", company.id) is not None and _batch() is None

    director.post(f"/dealview/delete/{deal.id}")
    director.post(f"/companyview/delete/{company.id}")
    assert get_record("company", company.id) is None
    # A binned company is offered nowhere: not on a new deal's form.
    assert "ООО «Эко»" not in director.get("/dealview/add").get_data(as_text=True)
    deal_batch, company_batch = db.session.scalars(select(TrashBatch).order_by(TrashBatch.id))
    admin = login("admin")
    resp = admin.post(f"/trashview/action/restore/{deal_batch.id}", follow_redirects=True)
    assert any("Сначала восстановите из корзины: контрагент «ООО «Эко»»" in m
               for m in flashes(resp.get_data(as_text=True)))
    # Nor can the company go for good while the binned deal points at it.
    resp = admin.post(f"/trashview/action/purge/{company_batch.id}", follow_redirects=True)
    assert any("ссылается сделка" in m for m in flashes(resp.get_data(as_text=True)))
    admin.post("/trashview/action_post", data={"action": "restore",
                                               "rowid": [company_batch.id, deal_batch.id]})
    db.session.expire_all()
    assert get_record("company", company.id) is not None
    assert get_record("deal", deal.id).company_id == company.id
    assert _batch() is None


def test_bad_input_to_the_bin_gets_russian_answers(app, login):
    admin = login("admin")
    for url in ("/trashview/action/restore/987", "/trashview/action/nothing/1"):
        resp = admin.post(url, follow_redirects=True)
        assert resp.status_code == 200
        assert flashes(resp.get_data(as_text=True)), url
    # a number that is no number: the Russian «not found» page of every screen
    resp = admin.post("/trashview/action/restore/abc", follow_redirects=True)
    assert resp.status_code in (200, 404) and "Traceback" not in resp.get_data(as_text=True)
    resp = admin.get("/trashview/confirm_purge/987", follow_redirects=True)
    assert "Запись не найдена в корзине" in flashes(resp.get_data(as_text=True))


def test_a_notification_about_a_binned_deal_no_longer_opens_it(app, login, deal):
    note = Notification(user_id=user("manager").id, text=f"Сделка «{DEAL}»: новая задача",
                        kind="task", entity="deal", record_id=deal.id, source_key="test:1")
    db.session.add(note)
    db.session.commit()
    manager = login("manager")
    resp = manager.post(f"/notifications/{note.id}/open")
    assert resp.headers["Location"].endswith(f"/dealview/show/{deal.id}")
    login("sales_head").post(f"/dealview/delete/{deal.id}")
    resp = manager.post(f"/notifications/{note.id}/open", follow_redirects=True)
    assert any("удалена" in m for m in flashes(resp.get_data(as_text=True)))


def test_a_task_binned_alone_comes_back_only_to_its_record(app, login, deal):
    first, _second = _parts(deal.id)["tasks"]
    head = login("sales_head")
    head.post(f"/taskview/delete/{first}")
    assert get_record("task", first) is None and get_record("deal", deal.id) is not None
    page = login("manager").get(f"/dealview/show/{deal.id}").get_data(as_text=True)
    assert TASKS[0] not in page and TASKS[1] in page
    head.post(f"/dealview/delete/{deal.id}")
    task_batch, deal_batch = db.session.scalars(select(TrashBatch).order_by(TrashBatch.id))
    assert deal_batch.summary == "1 задача, 1 файл"
    admin = login("admin")
    resp = admin.post(f"/trashview/action/restore/{task_batch.id}", follow_redirects=True)
    assert any(f"Сначала восстановите из корзины: сделка «{DEAL}»" in m
               for m in flashes(resp.get_data(as_text=True)))
    admin.post(f"/trashview/action/restore/{deal_batch.id}")
    admin.post(f"/trashview/action/restore/{task_batch.id}")
    db.session.expire_all()
    assert get_record("task", first) is not None and _batch() is None


def test_the_bin_is_searched_by_kind_and_by_who_deleted(app, login, deal):
    company = Company(kind="legal", name="ООО «Лютик»", inn="7707083893")
    db.session.add(company)
    db.session.commit()
    login("sales_head").post(f"/dealview/delete/{deal.id}")
    login("director").post(f"/companyview/delete/{company.id}")
    admin = login("admin")

    def shown(query):
        page = admin.get(f"/trashview/list/?{query}").get_data(as_text=True)
        return {name for name in (DEAL, "ООО «Лютик»") if name in page}

    assert shown("") == {DEAL, "ООО «Лютик»"}
    assert shown("_flt_3_entity=deal") == {DEAL}
    assert shown("_flt_3_entity=company") == {"ООО «Лютик»"}
    assert shown(f"_flt_0_deleted_by={user('director').id}") == {"ООО «Лютик»"}
    assert "Контрагент" in admin.get("/trashview/list/").get_data(as_text=True)
