"""Employees' reports under a frozen clock: each working day of the Russian calendar every
active member of a department gets one report task, its head watching; a repeated run, the
CLI and the scheduler make no second one; days off (Saturdays, holidays, moved days off)
make none; the weekly plan comes on the week's first working day; after downtime only the
current period is made; a report is closed only with its text."""
from __future__ import annotations

import datetime as dt
import html

import pytest
import time_machine
from sqlalchemy import select

from app.extensions import db
from jobs import scheduler
from jobs.runner import InlineRunner
from models.schedule import ScheduledAction
from models.task import REPORT_KIND, REPORT_TEXT_REQUIRED, Task
from process.reports import REPORT_JOB_KEY, create_reports, ensure_reports_scheduled
from tests.conftest import flashes
from tests.process_flow_helpers import msk, utc
from tests.report_helpers import links, make_office, make_plan, report_tasks


@pytest.fixture()
def office(app):
    return make_office()


def _mine(office):
    """The office's report tasks by assignee login."""
    return {t.assignee.username: t for t in report_tasks(department_id=office.department.id)}


def test_a_working_day_gives_each_active_member_one_task_watched_by_the_head(app, office):
    make_plan("daily", office.department)
    with time_machine.travel(msk(2027, 1, 12, 9, 0), tick=False):
        result = create_reports(dt.date(2027, 1, 12))
        db.session.commit()
    assert result.working and result.created == 3 and result.existing == 0
    tasks = _mine(office)
    assert set(tasks) == {"dev_head", "dev_a", "dev_b"}  # not the inactive member
    for login, task in tasks.items():
        assert task.title == "Ежедневный отчёт: план работ на 12.01.2027"
        assert task.kind == REPORT_KIND and task.status == "open"
        assert task.deadline == utc(2027, 1, 12, 18, 0)
        assert task.effect_key == f"report:daily:{task.assignee_id}:2027-01-12"
        assert task.creator_id is None  # the system
        expected = [] if login == "dev_head" else [office.head.id]
        assert [u.id for u in task.observers] == expected
    link = links(user_id=office.alpha.id)[0]
    assert (link.period, link.period_start, link.department_id) == (
        "daily", dt.date(2027, 1, 12), office.department.id)
    # The deadline is a schedule row like any task's: overdue notices follow.
    row = db.session.scalar(select(ScheduledAction).where(
        ScheduledAction.effect_key == f"task:{tasks['dev_a'].id}:task_deadline"))
    assert row is not None and row.due_at == utc(2027, 1, 12, 18, 0)


def test_a_plan_for_all_departments_reaches_every_active_department(app, office):
    make_plan("daily")
    with time_machine.travel(msk(2027, 1, 12, 9, 0), tick=False):
        create_reports(dt.date(2027, 1, 12))
        db.session.commit()
    sales = {t.assignee.username: t for t in report_tasks()
             if t.assignee.username in ("manager", "manager2", "sales_head", "secretary")}
    assert set(sales) == {"manager", "manager2", "sales_head", "secretary"}
    assert [u.username for u in sales["manager"].observers] == ["sales_head"]
    assert "admin" not in {t.assignee.username for t in report_tasks()}  # in no department
    assert len(_mine(office)) == 3


def test_running_again_by_hand_and_by_the_scheduler_creates_no_more(app, office, runner):
    make_plan("daily", office.department)
    with time_machine.travel(msk(2027, 1, 12, 9, 30), tick=False):
        first = runner.invoke(args=["crm", "reports", "create", "--date", "2027-01-12"])
        assert "Отчёты на 12.01.2027: поставлено задач 3, уже были 0" in first.output
        again = runner.invoke(args=["crm", "reports", "create"])  # today
        assert "поставлено задач 0, уже были 3" in again.output
        ensure_reports_scheduled()
        db.session.commit()
        assert scheduler.tick(runner=InlineRunner()).schedule == 1
        assert scheduler.tick(runner=InlineRunner()).schedule == 0
    assert len(report_tasks()) == 3


def test_a_bad_date_on_the_command_line_is_refused_in_russian(app, office, runner):
    make_plan("daily", office.department)
    result = runner.invoke(args=["crm", "reports", "create", "--date", "12/01/2027"])
    assert result.exit_code == 1
    assert "неверная дата «12/01/2027», ожидается ГГГГ-ММ-ДД" in result.output
    assert report_tasks() == []


@pytest.mark.parametrize("day, why", [
    (dt.date(2027, 1, 16), "Saturday"),
    (dt.date(2027, 1, 17), "Sunday"),
    (dt.date(2027, 1, 5), "New Year holidays"),
    (dt.date(2027, 2, 23), "Defender of the Fatherland Day"),
    (dt.date(2027, 2, 22), "a Monday made a day off by decree"),
])
def test_days_off_create_nothing(app, office, runner, day, why):
    make_plan("daily", office.department)
    make_plan("weekly", office.department)
    with time_machine.travel(msk(day.year, day.month, day.day, 10, 0), tick=False):
        result = runner.invoke(args=["crm", "reports", "create", "--date", day.isoformat()])
    assert f"{day:%d.%m.%Y} — нерабочий день: задачи-отчёты не ставятся" in result.output, why
    assert report_tasks() == [], why


def test_a_saturday_a_decree_made_working_gets_its_daily_report(app, office):
    make_plan("daily", office.department)
    with time_machine.travel(msk(2027, 2, 20, 9, 0), tick=False):
        assert create_reports(dt.date(2027, 2, 20)).created == 3
        db.session.commit()
    assert {t.title for t in report_tasks()} == {"Ежедневный отчёт: план работ на 20.02.2027"}


def test_the_weekly_plan_comes_on_monday_once_a_week(app, office):
    make_plan("weekly", office.department)
    with time_machine.travel(msk(2027, 1, 18, 9, 0), tick=False):
        assert create_reports(dt.date(2027, 1, 18)).created == 3
        db.session.commit()
    with time_machine.travel(msk(2027, 1, 19, 9, 0), tick=False):
        tuesday = create_reports(dt.date(2027, 1, 19))
        db.session.commit()
    assert (tuesday.created, tuesday.existing) == (0, 3)
    task = _mine(office)["dev_a"]
    assert task.title == "Еженедельный отчёт: план работ на неделю 18.01–22.01.2027"
    assert task.deadline == utc(2027, 1, 22, 18, 0)  # the week's last working day
    assert task.effect_key == f"report:weekly:{office.alpha.id}:2027-01-18"
    assert [u.id for u in task.observers] == [office.head.id]


def test_when_monday_is_a_holiday_the_weekly_plan_comes_on_the_first_working_day(app, office):
    make_plan("weekly", office.department)
    with time_machine.travel(msk(2027, 3, 8, 9, 0), tick=False):  # Международный женский день
        assert not create_reports(dt.date(2027, 3, 8)).working
        db.session.commit()
    assert report_tasks() == []
    with time_machine.travel(msk(2027, 3, 9, 9, 0), tick=False):
        assert create_reports(dt.date(2027, 3, 9)).created == 3
        db.session.commit()
    task = _mine(office)["dev_b"]
    assert task.title == "Еженедельный отчёт: план работ на неделю 09.03–12.03.2027"
    assert task.effect_key.endswith(":2027-03-08")  # the week, keyed by its Monday
    assert task.deadline == utc(2027, 3, 12, 18, 0)


def test_the_week_after_a_moved_day_off_ends_on_its_working_saturday(app, office):
    make_plan("weekly", office.department)
    with time_machine.travel(msk(2027, 2, 15, 9, 0), tick=False):
        create_reports(dt.date(2027, 2, 15))
        db.session.commit()
    task = _mine(office)["dev_a"]
    assert task.title == "Еженедельный отчёт: план работ на неделю 15.02–20.02.2027"
    assert task.deadline == utc(2027, 2, 20, 18, 0)


def test_the_scheduler_creates_at_the_start_of_each_working_day_and_after_downtime_only_today(
        app, office):
    make_plan("daily", office.department)
    make_plan("weekly", office.department)
    with time_machine.travel(msk(2027, 1, 12, 8, 0), tick=False):  # a Tuesday, before 9:00
        ensure_reports_scheduled()
        db.session.commit()
        assert scheduler.tick(runner=InlineRunner()).schedule == 1
    row = db.session.scalar(select(ScheduledAction)
                            .where(ScheduledAction.effect_key == REPORT_JOB_KEY))
    db.session.refresh(row)
    assert report_tasks() == [] and row.status == "pending"
    assert row.due_at == utc(2027, 1, 12, 9, 0)
    with time_machine.travel(msk(2027, 1, 12, 8, 59), tick=False):
        assert scheduler.tick(runner=InlineRunner()).schedule == 0
    with time_machine.travel(msk(2027, 1, 12, 9, 0), tick=False):
        assert scheduler.tick(runner=InlineRunner()).schedule == 1
    # Tuesday's daily, and this week's weekly (Monday's run was missed: it comes now).
    assert sorted(t.effect_key.split(":")[1] for t in report_tasks()) == ["daily"] * 3 + \
        ["weekly"] * 3
    db.session.refresh(row)
    assert row.due_at == utc(2027, 1, 13, 9, 0) and row.attempts == 0
    assert row.params == {"day": "2027-01-12", "created": 6, "existing": 0}
    # The server is down from Wednesday to the next Wednesday: it comes back at 11:00.
    with time_machine.travel(msk(2027, 1, 20, 11, 0), tick=False):
        # The report row, and the six deadlines of last week's tasks (overdue notices).
        assert scheduler.tick(runner=InlineRunner()).schedule == 7
        assert scheduler.tick(runner=InlineRunner()).schedule == 0
    starts = sorted({link.period_start for link in links()})
    assert starts == [dt.date(2027, 1, 11), dt.date(2027, 1, 12), dt.date(2027, 1, 18),
                      dt.date(2027, 1, 20)]  # not the 13th to the 19th
    assert len(report_tasks()) == 12
    db.session.refresh(row)
    assert row.due_at == utc(2027, 1, 21, 9, 0)


def test_after_friday_the_next_run_is_monday_and_the_weekend_runs_nothing(app, office):
    make_plan("daily", office.department)
    with time_machine.travel(msk(2027, 1, 15, 9, 0), tick=False):
        ensure_reports_scheduled()
        db.session.commit()
        scheduler.tick(runner=InlineRunner())
    row = db.session.scalar(select(ScheduledAction)
                            .where(ScheduledAction.effect_key == REPORT_JOB_KEY))
    db.session.refresh(row)
    assert row.due_at == utc(2027, 1, 18, 9, 0)
    with time_machine.travel(msk(2027, 1, 16, 9, 0), tick=False):
        scheduler.tick(runner=InlineRunner())  # Friday's overdue deadlines only
    db.session.refresh(row)
    assert row.due_at == utc(2027, 1, 18, 9, 0) and row.status == "pending"
    assert len(report_tasks()) == 3


def test_reports_create_at_is_the_hour_of_the_run(app, office):
    make_plan("daily", office.department)
    app.config["REPORTS_CREATE_AT"] = "10:30"
    try:
        with time_machine.travel(msk(2027, 1, 12, 10, 0), tick=False):
            ensure_reports_scheduled()
            db.session.commit()
            scheduler.tick(runner=InlineRunner())
        assert report_tasks() == []
        with time_machine.travel(msk(2027, 1, 12, 10, 30), tick=False):
            assert scheduler.tick(runner=InlineRunner()).schedule == 1
        assert len(report_tasks()) == 3
    finally:
        app.config["REPORTS_CREATE_AT"] = ""


def test_inactive_plans_and_departments_create_nothing(app, office):
    plan = make_plan("daily", office.department)
    plan.active = False
    db.session.commit()
    with time_machine.travel(msk(2027, 1, 12, 9, 0), tick=False):
        assert create_reports(dt.date(2027, 1, 12)).created == 0
    plan.active = True
    office.department.active = False
    db.session.commit()
    with time_machine.travel(msk(2027, 1, 12, 9, 0), tick=False):
        assert create_reports(dt.date(2027, 1, 12)).created == 0
    office.department.active = True
    db.session.commit()


def test_a_binned_report_task_is_not_made_again(app, office, login):
    make_plan("daily", office.department)
    with time_machine.travel(msk(2027, 1, 12, 9, 0), tick=False):
        create_reports(dt.date(2027, 1, 12))
        db.session.commit()
        task = _mine(office)["dev_a"]
        resp = login("admin").post(f"/taskview/delete/{task.id}")
        assert resp.status_code == 302
        again = create_reports(dt.date(2027, 1, 12))
        db.session.commit()
    assert (again.created, again.existing) == (0, 3)


# --- filing ---------------------------------------------------------------------------------

@pytest.fixture()
def filed_day(app, office):
    make_plan("daily", office.department)
    with time_machine.travel(msk(2027, 1, 12, 9, 0), tick=False):
        create_reports(dt.date(2027, 1, 12))
        db.session.commit()
    return _mine(office)


def _task(task_id) -> Task:
    db.session.expire_all()
    return db.session.get(Task, task_id)


def test_closing_a_report_with_an_empty_text_is_refused_on_the_task_page(login, filed_day):
    task = filed_day["dev_a"]
    with time_machine.travel(msk(2027, 1, 12, 10, 0), tick=False):
        member = login("dev_a")
        page = html.unescape(member.get(f"/taskview/show/{task.id}").get_data(as_text=True))
        assert "План работ" in page and "Сдать отчёт" in page
        resp = member.post(f"/taskview/{task.id}/complete", data={"result": "   "},
                           follow_redirects=True)
        assert REPORT_TEXT_REQUIRED in [html.unescape(m) for m in
                                        flashes(resp.get_data(as_text=True))]
        assert _task(task.id).status == "open" and _task(task.id).result is None
        resp = member.post(f"/taskview/{task.id}/complete",
                           data={"result": "1. Созвон с заказчиком\n2. Смета по проекту"})
        assert resp.status_code == 302
    done = _task(task.id)
    assert done.status == "done" and done.result.startswith("1. Созвон с заказчиком")
    assert done.closed_at == utc(2027, 1, 12, 10, 0)


def test_closing_a_report_with_an_empty_text_is_refused_by_the_api_and_the_edit_form(
        login, filed_day):
    task = filed_day["dev_b"]
    with time_machine.travel(msk(2027, 1, 12, 10, 0), tick=False):
        member = login("dev_b")
        resp = member.api("post", f"/api/v1/task/{task.id}/complete", json={"result": ""})
        assert resp.status_code == 422
        assert resp.json["message"] == {"result": [REPORT_TEXT_REQUIRED]}
        resp = member.api("put", f"/api/v1/task/{task.id}",
                          json={"status": "done"})
        assert resp.status_code == 422 and "result" in resp.json["message"]
        resp = member.post(f"/taskview/edit/{task.id}", data={
            "title": task.title, "assignee": str(task.assignee_id), "status": "done",
            "result": ""})
        assert REPORT_TEXT_REQUIRED in html.unescape(resp.get_data(as_text=True))
        assert _task(task.id).status == "open"
        resp = member.api("post", f"/api/v1/task/{task.id}/complete",
                          json={"result": "Тестирование релиза"})
        assert resp.status_code == 200
        assert resp.json["result"]["kind"] == "report"
    assert _task(task.id).status == "done"


def test_an_ordinary_task_still_closes_without_a_text(login, filed_day, app):
    plain = Task(title="Позвонить клиенту", assignee_id=filed_day["dev_a"].assignee_id)
    db.session.add(plain)
    db.session.commit()
    resp = login("dev_a").post(f"/taskview/{plain.id}/complete", data={"result": ""})
    assert resp.status_code == 302
    assert _task(plain.id).status == "done"


def test_nobody_is_asked_for_a_report_of_a_day_they_are_away(app, office, login):
    """A member on leave or sick that day gets no daily task, and the weekly one only when
    they work some day of the week; the screen says «Отсутствует», not counted as missing."""
    from process.absence import register_absence

    make_plan("daily", office.department)
    make_plan("weekly", office.department)
    register_absence(office.alpha.id, "sick", dt.date(2027, 1, 11), dt.date(2027, 1, 15))
    register_absence(office.beta.id, "vacation", dt.date(2027, 1, 12), dt.date(2027, 1, 12))
    db.session.commit()
    with time_machine.travel(msk(2027, 1, 12, 9, 0), tick=False):
        create_reports(dt.date(2027, 1, 12))
        db.session.commit()
    made = {(t.assignee.username, t.effect_key.split(":")[1]) for t in
            report_tasks(department_id=office.department.id)}
    # alpha is away the whole week: nothing; beta is away today only: the weekly report
    assert made == {("dev_head", "daily"), ("dev_head", "weekly"), ("dev_b", "weekly")}
    with time_machine.travel(msk(2027, 1, 12, 10, 0), tick=False):
        page = login("dev_head").get("/crm/reports/?day=12.01.2027").get_data(as_text=True)
    assert html.unescape(page).count("Отсутствует") >= 2
    assert "Больничный" not in page  # the kind of absence is nobody's business here
