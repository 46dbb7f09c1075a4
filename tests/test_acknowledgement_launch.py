"""«Ознакомление»: the launch form under a frozen clock. A department expands to its active
members at the launch; the recipients are notified once through the outbox; the reminder
and the deadline become schedule rows; bad input is refused in Russian with nothing
created; only the heads, the director and the admin may launch."""
from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from sqlalchemy import func, select

from app.extensions import db
from models.acknowledgement import Acknowledgement, AcknowledgementRecipient, link_error
from models.attachment import Attachment
from models.notification import Notification
from models.outbox import OutboxMessage
from models.schedule import ScheduledAction
from tests.acknowledgement_helpers import (DEADLINE, LAUNCH, REMINDER, department, form,
                                           launch, notes_of, only_acknowledgement,
                                           recipients, tick)
from tests.factories import make_user
from tests.process_flow_helpers import user, utc
from tests.test_security_headers import assert_page_satisfies_csp


def _count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model)) or 0


def test_a_department_expands_to_its_active_members_and_each_is_notified_once(login):
    gone = make_user("fired", ["manager"], department("sales"))
    gone.active = False
    db.session.commit()
    with time_machine.travel(LAUNCH, tick=False):
        head = login("sales_head")
        resp = launch(head, departments=["sales"], users=["engineer"])
        assert resp.status_code == 302, resp.get_data(as_text=True)
        ack = only_acknowledgement()
        # the author is not asked to confirm their own document; nor is who left
        assert set(recipients(ack)) == {"manager", "manager2", "secretary", "engineer"}
        assert [d.code for d in ack.departments] == ["sales"]
        assert ack.author_id == user("sales_head").id and ack.status == "open"
        assert ack.deadline == utc(2026, 12, 4, 18, 0)
        (file,) = db.session.scalars(select(Attachment).where(
            Attachment.entity == "acknowledgement", Attachment.record_id == ack.id)).all()
        assert file.filename == "Приказ №5.pdf"

        (message,) = db.session.scalars(select(OutboxMessage)).all()
        assert message.kind == "notification" and message.effect_key == \
            f"acknowledgement:{ack.id}:launch"
        assert sorted(message.recipients) == sorted(
            user(u).id for u in ("manager", "manager2", "secretary", "engineer"))
        rows = db.session.scalars(select(ScheduledAction).order_by(ScheduledAction.due_at))
        assert [(r.action, r.due_at) for r in rows] == [
            ("acknowledgement_reminder", utc(2026, 12, 3, 18, 0)),
            ("acknowledgement_deadline", utc(2026, 12, 4, 18, 0))]

        # the scheduler delivers the outbox row: one notification each, however often it runs
        tick()
        tick()
        from jobs.tasks import deliver_outbox

        deliver_outbox([message.id])
    for name in ("manager", "manager2", "secretary", "engineer"):
        (note,) = notes_of(name)
        assert "Приказ о пожарной безопасности" in note.text and "04.12.2026 18:00" in note.text
        assert note.entity == "acknowledgement" and note.record_id == ack.id
    assert notes_of("fired") == [] and notes_of("sales_head") == []


def test_the_notification_opens_the_document_page(login):
    with time_machine.travel(LAUNCH, tick=False):
        assert launch(login("director"), users=["manager"]).status_code == 302
        tick()
        (note,) = notes_of("manager")
        resp = login("manager").post(f"/notifications/{note.id}/open")
        assert resp.status_code == 302
        assert resp.headers["Location"].endswith(f"/acknowledgement/show/{note.record_id}")


def test_a_deadline_closer_than_a_working_day_has_no_reminder_before_it(login):
    with time_machine.travel(LAUNCH, tick=False):
        assert launch(login("director"), users=["manager"],
                      deadline="2026-12-01T17:00").status_code == 302
    assert [r.action for r in db.session.scalars(select(ScheduledAction))] == [
        "acknowledgement_deadline"]


@pytest.mark.parametrize("changes, field, message", [
    ({"title": "  "}, "title", "Укажите название документа"),
    ({"link": "javascript:alert(1)"}, "link", "http:// или https://"),
    ({"link": "https://bank.example@evil.example/x"}, "link", "http:// или https://"),
    ({"link": "ftp://files.example/doc"}, "link", "http:// или https://"),
    ({"files": ()}, "files", "Прикрепите файл документа или укажите ссылку"),
    ({"files": (("вирус.exe", b"MZ"),)}, "files", "Файлы такого типа загружать нельзя"),
    ({"deadline": "2026-11-30T18:00"}, "deadline", "Срок ознакомления должен быть в будущем"),
    ({"deadline": "завтра"}, "deadline", "Неверная дата и время"),
    ({"deadline": ""}, "deadline", "Укажите срок ознакомления"),
    ({"users": ()}, "users", "Выберите сотрудников или отделы"),
])
def test_bad_input_is_refused_in_russian_and_creates_nothing(login, changes, field, message):
    with time_machine.travel(LAUNCH, tick=False):
        head = login("sales_head")
        values = {"users": ["manager"], **changes}
        resp = launch(head, **values)
    assert resp.status_code == 422
    page = resp.get_data(as_text=True)
    assert message in page and "Документ не отправлен" in page
    assert _count(Acknowledgement) == 0 and _count(AcknowledgementRecipient) == 0
    assert _count(Attachment) == 0 and _count(OutboxMessage) == 0
    assert _count(ScheduledAction) == 0


def test_a_refused_form_keeps_what_was_typed_and_the_chosen_people(login):
    with time_machine.travel(LAUNCH, tick=False):
        resp = launch(login("sales_head"), title="Регламент", users=["manager2"],
                      deadline="2020-01-01T10:00")
    page = resp.get_data(as_text=True)
    assert resp.status_code == 422
    assert 'value="Регламент"' in page
    assert f'<option value="{user("manager2").id}" selected>' in page


def test_a_department_with_nobody_else_in_it_is_refused(login):
    lonely = department("sales")
    with time_machine.travel(LAUNCH, tick=False):
        for name in ("manager", "manager2", "secretary"):
            user(name).active = False
        db.session.commit()
        try:
            resp = launch(login("sales_head"), departments=[lonely.code])
        finally:
            for name in ("manager", "manager2", "secretary"):
                user(name).active = True
            db.session.commit()
    assert resp.status_code == 422
    assert "В выбранных отделах нет работающих сотрудников" in resp.get_data(as_text=True)
    assert _count(Acknowledgement) == 0


def test_unknown_people_and_departments_are_refused(login):
    with time_machine.travel(LAUNCH, tick=False):
        head = login("sales_head")
        resp = head.post("/acknowledgement/add", data={
            **form(users=["manager"]), "users": ["999999"], "departments": ["abc"]},
            content_type="multipart/form-data")
    page = resp.get_data(as_text=True)
    assert resp.status_code == 422
    assert "Сотрудник не найден или уволен" in page and "Отдел не найден или закрыт" in page
    assert _count(Acknowledgement) == 0


def test_link_check():
    assert link_error("https://portal.example.ru/docs/5?x=1#p") is None
    assert link_error("http://intranet/приказ") is None
    for bad in ("javascript:alert(1)", "data:text/html,x", "//evil.example", "https://",
                "https://a b.example", "https://ex.example:port/", "mailto:a@b.ru",
                "https://" + "a" * 2000):
        assert link_error(bad), bad


@pytest.mark.parametrize("role", ["manager", "employee", "accountant", "lawyer"])
def test_who_may_not_launch_is_refused(login, role):
    client = login(role)
    assert client.get("/acknowledgement/add").status_code in (302, 403)
    with time_machine.travel(LAUNCH, tick=False):
        resp = launch(login(role), users=["engineer"])
    assert resp.status_code in (302, 403)
    assert _count(Acknowledgement) == 0
    # but the list is theirs: documents addressed to them
    page = client.get("/acknowledgement/list/")
    assert page.status_code == 200 and "Мне на ознакомление" in page.get_data(as_text=True)
    assert "Отправить документ на ознакомление" not in page.get_data(as_text=True)
    # every role has the menu item
    home = client.get("/").get_data(as_text=True)
    assert 'href="/acknowledgement/list/"' in home and "Ознакомление" in home


@pytest.mark.parametrize("role", ["department_head", "sales_head", "execution_head",
                                  "production_head", "director", "admin"])
def test_heads_the_director_and_the_admin_may_launch_to_anyone(login, role):
    with time_machine.travel(LAUNCH, tick=False):
        client = login(role)
        form_page = client.get("/acknowledgement/add")
        assert form_page.status_code == 200
        assert_page_satisfies_csp(form_page)
        # a head addresses people outside the own department too
        resp = launch(client, users=["outsider", "accountant"], files=(),
                      link="https://portal.example.ru/docs/5")
    assert resp.status_code == 302, resp.get_data(as_text=True)
    assert set(recipients(only_acknowledgement())) == {"outsider", "accountant"}


def test_the_people_picker_offers_active_users_to_those_who_may_launch(login):
    gone = make_user("fired2", ["manager"], first="Уволенный", last="Ушедший")
    gone.active = False
    db.session.commit()
    head = login("sales_head")
    found = head.get("/acknowledgement/form_picker/users?q=Второв").json["results"]
    assert [r["id"] for r in found] == [str(user("manager2").id)]
    assert head.get("/acknowledgement/form_picker/users?q=Ушедший").json["results"] == []
    assert head.get("/acknowledgement/form_picker/password").status_code == 404
    assert login("manager").get("/acknowledgement/form_picker/users?q=a").status_code \
        in (302, 403)


def test_the_list_counts_what_i_have_not_confirmed(login):
    with time_machine.travel(LAUNCH, tick=False):
        head = login("sales_head")
        for title in ("Приказ №1", "Приказ №2"):
            assert launch(head, title=title, users=["manager"]).status_code == 302
        page = login("manager").get("/acknowledgement/list/")
        text = page.get_data(as_text=True)
        assert page.status_code == 200 and "Не подтверждено: 2" in text
        assert "Приказ №1" in text and "Приказ №2" in text
        assert_page_satisfies_csp(page)
        launched = head.get("/acknowledgement/list/").get_data(as_text=True)
        assert "Запущенные мной" in launched and "0 из 1" in launched
        # the director sees every document; a bystander none
        assert "Приказ №1" in login("director").get("/acknowledgement/list/").get_data(
            as_text=True)
        assert "Приказ №1" not in login("outsider").get("/acknowledgement/list/").get_data(
            as_text=True)


def test_a_second_recipient_notification_is_not_written_for_a_repeated_delivery(login):
    with time_machine.travel(LAUNCH, tick=False):
        assert launch(login("director"), users=["manager"]).status_code == 302
        tick()
        message = db.session.scalar(select(OutboxMessage))
        message.status = "pending"  # a lost claim: the row is delivered again
        db.session.commit()
        tick()
    assert len(notes_of("manager")) == 1
    assert db.session.scalar(select(func.count(Notification.id))) == 1


def test_reminder_times_follow_the_working_calendar():
    from process.acknowledgement import reminder_at

    # Monday 12:00 -> Friday 12:00; after the May holidays, the last working day before them
    assert reminder_at(utc(2026, 12, 7, 12, 0)) == utc(2026, 12, 4, 12, 0)
    assert reminder_at(utc(2026, 5, 12, 12, 0)) == utc(2026, 5, 8, 12, 0)
    assert reminder_at(DEADLINE.astimezone(dt.timezone.utc).replace(tzinfo=None)) == \
        REMINDER.astimezone(dt.timezone.utc).replace(tzinfo=None)


def test_a_refused_second_file_leaves_nothing_on_disk(login, app):
    from pathlib import Path

    def stored() -> set[Path]:
        return {p for p in Path(app.config["UPLOAD_DIR"]).rglob("*") if p.is_file()}

    before = stored()
    too_big = b"%PDF" + b"0" * app.config["UPLOAD_MAX_BYTES"]
    with time_machine.travel(LAUNCH, tick=False):
        resp = launch(login("director"), users=["manager"],
                      files=(("Приказ.pdf", b"%PDF-1.4 ok"), ("Приложение.pdf", too_big)))
    assert resp.status_code == 422
    assert "Файл слишком большой" in resp.get_data(as_text=True)
    assert stored() == before
    assert _count(Acknowledgement) == 0 and _count(Attachment) == 0
