"""Администрирование → «Расписание», «Ошибки заданий», «Очереди и обработчики»: Russian
lists and record pages, cancel and retry with their status rules, the failed-jobs page, and
the queues page in embedded mode, with Redis, and with Redis down."""
from __future__ import annotations

import datetime as dt
import html as html_lib
import re
import uuid

import fakeredis
import pytest
from rq import Queue, Worker

import jobs.stats
from app.extensions import db
from models.base import utcnow
from models.outbox import OutboxMessage
from models.schedule import ScheduledAction
from tests.conftest import flashes
from tests.helpers import legal_company
from tests.test_russian_ui import assert_russian, visible_text

LIST = "/scheduleview/list/"
FAILED = "/crm/jobs/failed/"
QUEUES = "/crm/jobs/queues/"


def scheduled(**kw) -> ScheduledAction:
    values = {"action": "remind", "params": {}, "entity": "company", "record_id": 1,
              "due_at": utcnow() - dt.timedelta(minutes=5), "status": "pending",
              "effect_key": f"test:{uuid.uuid4().hex}"}
    row = ScheduledAction(**{**values, **kw})
    db.session.add(row)
    db.session.commit()
    return row


def outbox(**kw) -> OutboxMessage:
    values = {"kind": "email", "status": "pending", "recipients": ["client@example.ru"],
              "subject": "Счёт на оплату", "body": "Текст"}
    msg = OutboxMessage(**{**values, **kw})
    db.session.add(msg)
    db.session.commit()
    return msg


def reload(model, pk):
    db.session.expire_all()
    return db.session.get(model, pk)


def cell(html: str, css_class: str) -> str:
    found = re.search(rf'class="{css_class}"[^>]*>(.*?)</td>', html, re.S)
    assert found, css_class
    return " ".join(found.group(1).split())


@pytest.fixture()
def no_redis(app, monkeypatch):
    monkeypatch.setitem(app.config, "REDIS_URL", "")


# --- «Расписание» -----------------------------------------------------------------------------

def test_schedule_list_and_record_page_are_russian(client):
    company = legal_company()
    due = dt.datetime(2030, 1, 2, 9, 0)  # 12:00 in Moscow
    failed = scheduled(action="stage_deadline", status="failed", record_id=company.id,
                       due_at=due, attempts=5, last_error="SMTP ответил: 550 ящик не найден")
    pending = scheduled(action="task_reminder", entity="deal", record_id=987654)

    text = assert_russian(client.get(LIST), "Расписание", "Срок этапа",
                          "Напоминание по задаче", "Ошибка", "Ожидает", "ООО «Ромашка»",
                          "02.01.2030 12:00", "SMTP ответил: 550 ящик не найден",
                          "Повторить", "Отменить", "Действия", "Добавить фильтр")
    assert "stage_deadline" not in text and "failed" not in text
    html = client.get(LIST).get_data(as_text=True)
    assert f"/companyview/show/{company.id}" in html
    assert f"/crm/schedule/{failed.id}/retry" in html
    assert f"/crm/schedule/{pending.id}/cancel" in html
    assert f"/crm/schedule/{pending.id}/retry" not in html  # pending: nothing to retry
    assert "/scheduleview/add" not in html  # no add, edit or delete

    show = assert_russian(client.get(f"/scheduleview/show/{failed.id}"),
                          "Запланированное действие", "Срок этапа", "Ошибка",
                          "02.01.2030 12:00", "Попыток", "5", "Повторить", "Отменить")
    assert "Комментарии" not in show and "Файлы" not in show
    for url in ("/scheduleview/add", f"/scheduleview/edit/{failed.id}",
                f"/scheduleview/delete/{failed.id}"):
        assert client.get(url).status_code in (302, 403, 404, 405), url
    assert reload(ScheduledAction, failed.id) is not None


def test_schedule_list_filters_by_status_record_and_local_due_time(client):
    failed = scheduled(status="failed", due_at=dt.datetime(2030, 1, 2, 9, 0), record_id=11)
    pending = scheduled(status="pending", due_at=dt.datetime(2030, 1, 2, 7, 0), record_id=12)

    def shown(query):
        resp = client.get(LIST + query)
        assert resp.status_code == 200
        html = resp.get_data(as_text=True)
        return {pk for pk in (failed.id, pending.id) if f"/scheduleview/show/{pk}" in html}

    assert shown("") == {failed.id, pending.id}
    assert shown("?_flt_0_status=failed") == {failed.id}
    assert shown("?_flt_1_status=failed") == {pending.id}  # «не равно»
    assert shown("?_flt_0_record_id=12") == {pending.id}
    # 11:00 in Moscow is 08:00 UTC: the row due 09:00 UTC is later, the 07:00 one earlier.
    assert shown("?_flt_0_due_at=2030-01-02T11:00") == {failed.id}
    assert shown("?_flt_1_due_at=2030-01-02T11:00") == {pending.id}
    assert shown("?_flt_1_due_at=02.01.2030") == {failed.id, pending.id}  # the whole day
    resp = client.get(LIST + "?_flt_0_due_at=вчера")
    assert resp.status_code == 400
    page = html_lib.unescape(resp.get_data(as_text=True))
    assert "Неверное значение фильтра по полю «" in page and "»: «вчера»" in page
    assert "due_at" not in page.split("Неверное значение фильтра")[1][:60]


def test_schedule_export_is_plain_russian_text(client):
    company = legal_company()
    scheduled(action="repeat", status="done", record_id=company.id)
    body = client.get("/scheduleview/export/").get_data(as_text=True)
    assert "Повтор" in body and "Выполнено" in body and "ООО «Ромашка»" in body
    assert "<a " not in body and "<form" not in body


def test_cancel_and_retry_follow_the_status_rules(client):
    row = scheduled(status="pending")
    resp = client.post(f"/crm/schedule/{row.id}/cancel", follow_redirects=True)
    assert resp.status_code == 200
    assert f"Действие № {row.id} отменено" in flashes(resp.get_data(as_text=True))
    assert reload(ScheduledAction, row.id).status == "cancelled"

    resp = client.post(f"/crm/schedule/{row.id}/cancel", follow_redirects=True)
    assert resp.status_code == 200
    assert any("Отменить можно только" in f and "«Отменено»" in f
               for f in flashes(resp.get_data(as_text=True)))
    assert reload(ScheduledAction, row.id).status == "cancelled"

    resp = client.post(f"/crm/schedule/{row.id}/retry", follow_redirects=True)
    assert any("при следующем проходе планировщика" in f
               for f in flashes(resp.get_data(as_text=True)))
    assert reload(ScheduledAction, row.id).status == "pending"

    resp = client.post(f"/crm/schedule/{row.id}/retry", follow_redirects=True)
    assert any("Повторить можно только" in f and "«Ожидает»" in f
               for f in flashes(resp.get_data(as_text=True)))

    failed = scheduled(status="failed", attempts=5, last_error="нет связи",
                       next_attempt_at=utcnow() + dt.timedelta(hours=1),
                       enqueued_at=utcnow() - dt.timedelta(hours=1),
                       due_at=utcnow() + dt.timedelta(days=2))
    resp = client.post(f"/crm/schedule/{failed.id}/retry",
                       data={"next": f"/scheduleview/show/{failed.id}"})
    assert resp.status_code == 302
    assert resp.headers["Location"].endswith(f"/scheduleview/show/{failed.id}")
    again = reload(ScheduledAction, failed.id)
    assert (again.status, again.attempts, again.next_attempt_at, again.enqueued_at) == \
        ("pending", 0, None, None)
    page = client.get(f"/scheduleview/show/{failed.id}").get_data(as_text=True)
    assert "снова ожидает срока" in " ".join(flashes(page))

    done = scheduled(status="done")
    for verb in ("cancel", "retry"):
        resp = client.post(f"/crm/schedule/{done.id}/{verb}", follow_redirects=True)
        assert resp.status_code == 200
        assert any("«Выполнено»" in f for f in flashes(resp.get_data(as_text=True)))
    assert reload(ScheduledAction, done.id).status == "done"

    resp = client.post("/crm/schedule/999999/cancel", follow_redirects=True)
    assert resp.status_code == 200
    assert "Запланированное действие № 999999 не найдено" in flashes(
        resp.get_data(as_text=True))
    # a «next» elsewhere is not followed
    resp = client.post(f"/crm/schedule/{done.id}/cancel",
                       data={"next": "https://evil.example/"})
    assert resp.headers["Location"].endswith(LIST)


def test_actions_need_the_csrf_token(app, client, monkeypatch):
    row = scheduled(status="pending")
    monkeypatch.setitem(app.config, "WTF_CSRF_ENABLED", True)
    resp = client.post(f"/crm/schedule/{row.id}/cancel")
    assert resp.status_code == 400
    assert "Форма устарела" in resp.get_data(as_text=True)
    assert reload(ScheduledAction, row.id).status == "pending"
    # the list's own form carries the token, and posting it works
    html = client.get(LIST).get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)
    resp = client.post(f"/crm/schedule/{row.id}/cancel", data={"csrf_token": token})
    assert resp.status_code == 302
    assert reload(ScheduledAction, row.id).status == "cancelled"


def test_only_the_admin_sees_the_screens(login):
    row = scheduled(status="failed")
    msg = outbox(status="failed")
    manager = login("manager")
    for url in (LIST, f"/scheduleview/show/{row.id}", FAILED, QUEUES):
        assert manager.get(url).status_code == 403, url
    for url in (f"/crm/schedule/{row.id}/cancel", f"/crm/schedule/{row.id}/retry",
                f"/crm/jobs/failed/retry/schedule/{row.id}",
                f"/crm/jobs/failed/retry/outbox/{msg.id}"):
        assert manager.post(url).status_code == 403, url
    assert reload(ScheduledAction, row.id).status == "failed"
    assert reload(OutboxMessage, msg.id).status == "failed"
    menu = visible_text(manager.get("/companyview/list/").get_data(as_text=True))
    assert "Расписание" not in menu and "Ошибки заданий" not in menu

    admin_menu = visible_text(login("admin").get("/companyview/list/").get_data(as_text=True))
    for item in ("Расписание", "Ошибки заданий", "Очереди и обработчики"):
        assert item in admin_menu
    assert login(None).get(LIST).status_code == 302


# --- «Ошибки заданий» -------------------------------------------------------------------------

def test_failed_page_lists_failed_rows_and_retries_them(client):
    company = legal_company()
    row = scheduled(action="schedule", status="failed", attempts=5, record_id=company.id,
                    last_error="Правило не выполнено: нет ответственного")
    scheduled(action="remind", status="pending", last_error="старая ошибка, уже неважна")
    msg = outbox(status="failed", attempts=4, entity="company", record_id=company.id,
                 last_error="SMTP: 421 сервер занят", next_attempt_at=utcnow(),
                 enqueued_at=utcnow())
    outbox(status="sent", subject="Уже отправлено")

    text = assert_russian(client.get(FAILED), "Ошибки заданий", "Отложенное действие",
                          "Правило не выполнено: нет ответственного", "E-mail",
                          "Счёт на оплату", "SMTP: 421 сервер занят", "ООО «Ромашка»",
                          "Повторить")
    assert "старая ошибка" not in text and "Уже отправлено" not in text
    html = client.get(FAILED).get_data(as_text=True)
    assert f"/companyview/show/{company.id}" in html

    resp = client.post(f"/crm/jobs/failed/retry/schedule/{row.id}", follow_redirects=True)
    assert resp.status_code == 200
    assert any("при следующем проходе планировщика" in f
               for f in flashes(resp.get_data(as_text=True)))
    again = reload(ScheduledAction, row.id)
    assert (again.status, again.attempts) == ("pending", 0)

    resp = client.post(f"/crm/jobs/failed/retry/outbox/{msg.id}", follow_redirects=True)
    assert f"Сообщение № {msg.id} будет отправлено повторно" in flashes(
        resp.get_data(as_text=True))
    again = reload(OutboxMessage, msg.id)
    assert (again.status, again.attempts, again.next_attempt_at, again.enqueued_at) == \
        ("pending", 0, None, None)
    text = visible_text(client.get(FAILED).get_data(as_text=True))
    assert "SMTP: 421" not in text and text.count("Ошибок нет") == 2

    resp = client.post(f"/crm/jobs/failed/retry/outbox/{msg.id}", follow_redirects=True)
    assert any("Повторить можно только" in f and "«Ожидает»" in f
               for f in flashes(resp.get_data(as_text=True)))
    resp = client.post("/crm/jobs/failed/retry/outbox/999999", follow_redirects=True)
    assert "Исходящее сообщение № 999999 не найдено" in flashes(resp.get_data(as_text=True))
    assert client.post(f"/crm/jobs/failed/retry/nothing/{msg.id}").status_code == 404


# --- «Очереди и обработчики» ------------------------------------------------------------------

def _database_rows():
    now = utcnow()
    scheduled(due_at=now - dt.timedelta(minutes=90, seconds=10))
    scheduled(due_at=now - dt.timedelta(minutes=1))
    # waiting out a retry backoff: not due for the scheduler yet
    scheduled(due_at=now - dt.timedelta(hours=5), next_attempt_at=now + dt.timedelta(hours=1))
    scheduled(due_at=now + dt.timedelta(days=1))
    scheduled(status="enqueued")
    scheduled(status="failed")
    for status in ("pending", "pending", "failed", "held"):
        outbox(status=status)


def test_queues_page_in_embedded_mode(client, no_redis):
    _database_rows()
    resp = client.get(QUEUES)
    text = assert_russian(resp, "Очереди и обработчики", "Встроенный исполнитель (без Redis)",
                          "Не отправлено: SMTP не настроен")
    assert "Redis недоступен" not in text
    html = resp.get_data(as_text=True)
    assert cell(html, "crm-pending-due") == "2"
    assert cell(html, "crm-enqueued") == "1"
    assert cell(html, "crm-failed") == "1"
    assert "опоздание 1 ч 30 мин" in cell(html, "crm-oldest-late")
    counts = re.findall(r"<tr><th>(.*?)</th><td>(\d+)</td></tr>", html)
    assert ("Ожидает", "2") in counts and ("Ошибка", "1") in counts


def test_queue_stats_for_the_cli(app, no_redis):
    _database_rows()
    stats = jobs.stats.queue_stats(app)
    assert stats["mode"] == "embedded" and stats["redis_error"] is None
    assert (stats["schedule"]["pending_due"], stats["schedule"]["pending_later"]) == (2, 2)
    assert 5400 <= stats["schedule"]["oldest_late_seconds"] < 5500
    assert {r["status"]: r["count"] for r in stats["outbox"]} == \
        {"pending": 2, "failed": 1, "held": 1}


def test_queues_page_with_redis_shows_queues_and_workers(app, client, monkeypatch):
    fake = fakeredis.FakeStrictRedis()
    email = Queue("crm-email", connection=fake)
    email.enqueue("builtins.print", "первое")
    email.enqueue("builtins.print", "второе")
    alive = Worker([email], connection=fake, name="worker-alive")
    alive.register_birth()
    alive.set_state("idle")
    gone = Worker([Queue("crm-schedule", connection=fake)], connection=fake,
                  name="worker-gone")
    gone.register_birth()
    gone.set_state("busy")
    old = (dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=10))
    fake.hset(gone.key, "last_heartbeat", old.strftime("%Y-%m-%dT%H:%M:%S.%fZ"))
    monkeypatch.setitem(app.config, "REDIS_URL", "redis://redis.invalid:6379/0")
    monkeypatch.setattr(jobs.stats, "redis_connection", lambda _app: fake)
    scheduled(status="failed")

    resp = client.get(QUEUES)
    text = assert_russian(resp, "Очереди", "Обработчики", "crm-email", "crm-schedule",
                          "crm-notifications", "crm-documents", "worker-alive",
                          "worker-gone", "Ожидает заданий", "Выполняет задание",
                          "Не отвечает")
    assert "Встроенный исполнитель" not in text and "Redis недоступен" not in text
    html = resp.get_data(as_text=True)
    counts = dict(re.findall(r"<code>(crm-[a-z]+)</code></td><td class=\"crm-queue-count\">"
                             r"(\d+)</td>", html))
    assert counts == {"crm-schedule": "0", "crm-notifications": "0", "crm-email": "2",
                      "crm-documents": "0"}
    assert text.count("Не отвечает:") == 1  # only the worker silent for ten minutes
    assert cell(html, "crm-failed") == "1"


def test_queues_page_when_redis_is_down(app, client, monkeypatch):
    monkeypatch.setitem(app.config, "REDIS_URL", "redis://127.0.0.1:1/0")
    scheduled(status="enqueued")
    resp = client.get(QUEUES)
    assert resp.status_code == 200
    text = visible_text(resp.get_data(as_text=True))
    assert "Redis недоступен:" in text
    assert cell(resp.get_data(as_text=True), "crm-enqueued") == "1"  # the database still


def test_cancelling_asks_for_confirmation_first(app, client):
    from models.base import utcnow

    row = ScheduledAction(action="remind", entity="task", record_id=1, due_at=utcnow(),
                          effect_key="confirm:1", params={})
    db.session.add(row)
    db.session.commit()
    html = client.get(f"/scheduleview/show/{row.id}").get_data(as_text=True)
    # app/static/crm.js asks before a form with data-confirm is sent
    assert 'action="/crm/schedule/%d/cancel" style="display:inline" data-confirm="' \
           % row.id in html
