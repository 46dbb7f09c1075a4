"""The shipped «Продажа» process walked through the real app: the transition service, its
refusals, its effects, their idempotency and their rollback."""
import pytest
from sqlalchemy import select

from process import catalog as processes, service as transitions
from process.effects.registry import HANDLERS
from app.extensions import db
from config import BASE_DIR
from errors import MissingFields, TransitionNotAllowed
from models.deal import Deal
from models.outbox import OutboxMessage
from models.party import Company
from models.pipeline import Pipeline, Stage
from models.process import StageHistory
from models.task import Task
from models.timeline import TimelineEntry
from models.user import CrmUser

SALES_FILE = BASE_DIR / "rules" / "definitions" / "001_sales.yaml"


@pytest.fixture()
def sales(app):
    processes.install_file(SALES_FILE)
    db.session.commit()
    return db.session.scalar(select(Pipeline).where(Pipeline.code == "sales"))


def _user(name):
    return db.session.scalar(select(CrmUser).where(CrmUser.username == name))


def _stage(pipeline, key):
    return db.session.scalar(select(Stage).where(Stage.pipeline_id == pipeline.id,
                                                 Stage.key == key))


def _new_deal(client, sales, **extra):
    resp = client.api("post", "/api/v1/deal/", json={
        "title": "Поставка весов", "pipeline": sales.id, "stage": _stage(sales, "new").id,
        "responsible": _user("manager").id, **extra})
    assert resp.status_code == 201, resp.json
    return db.session.get(Deal, resp.json["id"])


def _tasks(deal):
    return db.session.scalars(select(Task).where(Task.record_entity == "deal",
                                                 Task.record_id == deal.id)
                              .order_by(Task.id)).all()


def _move(client, deal, sales, key, **extra):
    db.session.refresh(deal)
    return client.api("put", f"/api/v1/deal/{deal.id}", json={
        "stage": _stage(sales, key).id, "version": deal.version, **extra})


def test_new_request_notifies_managers_and_asks_to_take_it(client, sales):
    deal = _new_deal(client, sales)
    [task] = _tasks(deal)
    assert task.title == "Взять заявку в работу"
    assert task.outcome_choices == ["Принять заявку", "Отказ"]
    assert task.assignee.username in {"manager", "manager2", "outsider"}
    assert task.creator.username == "sales_head"
    assert task.rule_key == "sales.new.on_enter.take_request"
    note = db.session.scalar(select(OutboxMessage).where(OutboxMessage.kind == "notification"))
    assert note.body == "Новая заявка «Поставка весов»: возьмите заявку в работу"
    assert _user("sales_head").id in note.recipients
    history = db.session.scalars(select(StageHistory)).all()
    assert [(h.stage_name, h.left_at) for h in history] == [("Новая заявка", None)]


def test_missing_fields_refuse_the_move_with_russian_labels(client, sales):
    deal = _new_deal(client, sales)
    resp = _move(client, deal, sales, "in_work")
    assert resp.status_code == 422
    assert resp.json["message"]["priority"] == [
        "Заполните поле «Приоритет (А/В/С)»: оно обязательно на этапе «Взят в работу»"]
    assert set(resp.json["message"]) == {"priority", "company", "delivery_term"}
    db.session.expire_all()
    assert db.session.get(Deal, deal.id).stage.key == "new"
    assert len(_tasks(deal)) == 1


def test_taken_into_work_writes_tasks_letter_history_and_timeline(client, sales):
    company = Company(kind="person", name="Петров Пётр Петрович", email="petrov@example.ru")
    db.session.add(company)
    db.session.commit()
    deal = _new_deal(client, sales, company=company.id)
    resp = _move(client, deal, sales, "in_work", custom={
        "priority": "A", "delivery_term": "2026-12-01", "need_lawyer": True})
    assert resp.status_code == 200, resp.json
    titles = [t.title for t in _tasks(deal)]
    assert titles[1:] == ["Проверить товарные позиции",
                          "Проверить контрагента по сделке «Поставка весов»"]
    check = _tasks(deal)[1]
    assert check.assignee.username == "manager" and check.creator.username == "sales_head"
    assert check.deadline is not None
    letter = db.session.scalar(select(OutboxMessage).where(OutboxMessage.kind == "email"))
    assert letter.recipients == ["petrov@example.ru"]
    assert "Ваш персональный менеджер Тестов Иван" in " ".join(letter.body.split())
    history = db.session.scalars(select(StageHistory).order_by(StageHistory.id)).all()
    assert [h.stage_key for h in history] == ["new", "in_work"]
    assert history[0].left_at is not None and history[1].left_at is None
    texts = set(db.session.scalars(select(TimelineEntry.text)))
    assert "Этап: «Новая заявка» → «Взят в работу»" in texts
    assert ("Задача «Проверить товарные позиции» создана автоматически при переходе на "
            "этап «Взят в работу»") in texts
    db.session.refresh(deal)
    assert deal.custom["kp_agreed_date"]  # set to 2 working days ahead


def test_saving_again_in_the_same_stage_creates_nothing_twice(client, sales):
    company = Company(kind="person", name="Сидоров С. С.")
    db.session.add(company)
    db.session.commit()
    deal = _new_deal(client, sales, company=company.id)
    custom = {"priority": "B", "delivery_term": "2026-12-01"}
    assert _move(client, deal, sales, "in_work", custom=custom).status_code == 200
    count = len(_tasks(deal))
    db.session.refresh(deal)
    resp = client.api("put", f"/api/v1/deal/{deal.id}",
                      json={"title": "Поставка весов (уточнено)", "version": deal.version})
    assert resp.status_code == 200
    assert len(_tasks(deal)) == count
    # leaving and re-entering fires the entry actions again, under a new transition
    assert _move(client, deal, sales, "new").status_code == 200
    assert _move(client, deal, sales, "in_work").status_code == 200
    assert len([t for t in _tasks(deal) if t.title == "Проверить товарные позиции"]) == 2


def test_a_failing_action_rolls_the_whole_move_back(client, sales, monkeypatch):
    company = Company(kind="person", name="Козлов К. К.")
    db.session.add(company)
    db.session.commit()
    deal = _new_deal(client, sales, company=company.id)

    def broken(*_args):
        raise TransitionNotAllowed("Почтовый шаблон повреждён")

    monkeypatch.setitem(HANDLERS, "send_message", broken)
    resp = _move(client, deal, sales, "in_work",
                 custom={"priority": "A", "delivery_term": "2026-12-01"})
    assert resp.status_code == 409
    db.session.expire_all()
    assert db.session.get(Deal, deal.id).stage.key == "new"
    assert [t.title for t in _tasks(deal)] == ["Взять заявку в работу"]
    assert db.session.scalars(select(StageHistory)).all()[-1].stage_key == "new"


def test_a_stage_written_behind_the_service_is_refused(client, sales):
    deal = _new_deal(client, sales)
    deal.stage = _stage(sales, "won")
    with pytest.raises(TransitionNotAllowed):
        db.session.flush()
    db.session.rollback()
    assert db.session.get(Deal, deal.id).stage.key == "new"


def test_the_form_refuses_a_move_with_the_missing_fields(client, login, sales):
    deal = _new_deal(client, sales)
    manager = login("manager")
    page = manager.get(f"/dealview/edit/{deal.id}").get_data(as_text=True)
    assert "Поставка весов" in page
    db.session.refresh(deal)
    resp = manager.post(f"/dealview/edit/{deal.id}", data={
        "title": "Поставка весов", "pipeline": sales.id, "stage": _stage(sales, "in_work").id,
        "responsible": _user("manager").id, "budget": "0", "version": deal.version},
        follow_redirects=True)
    page = resp.get_data(as_text=True)
    assert "Нельзя перейти на этап «Взят в работу»: не заполнены поля" in page
    db.session.expire_all()
    assert db.session.get(Deal, deal.id).stage.key == "new"


def test_may_move_answers_for_the_button(client, sales):
    deal = _new_deal(client, sales)
    refusal = transitions.may_move(deal, "in_work")
    assert isinstance(refusal, MissingFields)
    assert transitions.may_move(deal, "lost") is not None  # a reason is required


def _close(client, task, outcome, result="Готово"):
    return client.api("put", f"/api/v1/task/{task.id}", json={
        "status": "done", "outcome": outcome, "result": result})


def test_task_outcomes_move_the_deal_and_loop_the_proposal(client, sales):
    company = Company(kind="person", name="Лебедев Л. Л.")
    db.session.add(company)
    db.session.commit()
    deal = _new_deal(client, sales, company=company.id)
    deal_custom = {"priority": "A", "delivery_term": "2026-12-01"}
    [take] = _tasks(deal)
    db.session.refresh(deal)
    client.api("put", f"/api/v1/deal/{deal.id}", json={"custom": deal_custom,
                                                      "version": deal.version})
    resp = _close(client, take, "Принять заявку")
    assert resp.status_code == 200, resp.json
    db.session.expire_all()
    assert db.session.get(Deal, deal.id).stage.key == "in_work"
    assert _move(client, deal, sales, "proposal").status_code == 200
    feedback = next(t for t in _tasks(deal)
                    if t.title == "Связаться с клиентом, получить обратную связь по КП")
    assert _close(client, feedback, "КП не согласовано").status_code == 200
    rework = [t for t in _tasks(deal)
              if t.title == "Отработать возражение, переформировать КП"]
    assert len(rework) == 1 and rework[0].status == "open"
    # closing the rework sends the feedback task round again: the loop until agreed
    assert _close(client, rework[0], None).status_code == 200
    feedbacks = [t for t in _tasks(deal)
                 if t.title == "Связаться с клиентом, получить обратную связь по КП"]
    assert len(feedbacks) == 2 and feedbacks[-1].status == "open"
    # an outcome outside the choices is refused
    assert _close(client, feedbacks[-1], "Может быть").status_code == 422


def test_bulk_move_applies_the_same_rules_to_each_record(client, login, sales):
    company = Company(kind="person", name="Фролов Ф. Ф.")
    db.session.add(company)
    db.session.commit()
    ready = _new_deal(client, sales, company=company.id,
                      custom={"priority": "C", "delivery_term": "2026-12-01"})
    empty = _new_deal(client, sales)
    other = _new_deal(client, sales, responsible=_user("manager2").id)
    resp = login("manager").api("post", "/api/v1/deal/move", json={
        "ids": [ready.id, empty.id, other.id], "stage": "in_work"})
    assert resp.status_code == 200, resp.json
    by_id = {r["id"]: r for r in resp.json["result"]}
    assert by_id[ready.id]["ok"] is True
    assert by_id[empty.id]["ok"] is False
    assert "не заполнены поля «Приоритет (А/В/С)»" in by_id[empty.id]["message"]
    # a new request is offered to every manager (the stage's participants): found, and
    # refused for its empty fields like any other
    assert by_id[other.id]["ok"] is False
    assert "не заполнены поля" in by_id[other.id]["message"]
    db.session.expire_all()
    assert [db.session.get(Deal, d.id).stage.key for d in (ready, empty, other)] == \
        ["in_work", "new", "new"]
    assert "Проверить товарные позиции" in [t.title for t in _tasks(ready)]
    assert login("secretary").api("post", "/api/v1/deal/move", json={
        "ids": [ready.id], "stage": "new"}).status_code in (401, 403)


def test_the_record_page_offers_the_moves_the_service_allows(client, login, sales):
    deal = _new_deal(client, sales)
    manager = login("manager")
    page = manager.get(f"/dealview/show/{deal.id}").get_data(as_text=True)
    # the same answer as the request: «Взят в работу» names the missing fields and opens
    # the form asking for them
    assert f'href="/crm/move/deal/{deal.id}/fields?stage=in_work"' in page
    assert 'title="Нельзя перейти на этап «Взят в работу»: не заполнены поля «Приоритет ' \
           '(А/В/С)», «Контрагент», «Срок поставки». Нажмите, чтобы заполнить поля и ' \
           'перейти"' in page
    assert 'name="stage" value="lost"' not in page  # lost needs a reason
    company = Company(kind="person", name="Юрьев Ю. Ю.")
    db.session.add(company)
    db.session.commit()
    db.session.refresh(deal)
    client.api("put", f"/api/v1/deal/{deal.id}", json={
        "company": company.id, "version": deal.version,
        "custom": {"priority": "A", "delivery_term": "2026-12-01"}})
    page = manager.get(f"/dealview/show/{deal.id}").get_data(as_text=True)
    assert 'name="stage" value="in_work"' in page
    resp = manager.post(f"/crm/move/deal/{deal.id}", data={"stage": "in_work"})
    assert resp.status_code == 302
    db.session.expire_all()
    assert db.session.get(Deal, deal.id).stage.key == "in_work"
    # another manager's deal: not found; a role without write: refused
    assert login("manager2").post(f"/crm/move/deal/{deal.id}",
                                  data={"stage": "proposal"}).status_code == 404
    assert login("lawyer").post(f"/crm/move/deal/{deal.id}",
                                data={"stage": "proposal"}).status_code in (403, 404)


def test_the_manager_who_accepts_the_request_becomes_responsible(client, login, sales):
    company = Company(kind="person", name="Принятов П. П.")
    db.session.add(company)
    db.session.commit()
    resp = client.api("post", "/api/v1/deal/", json={
        "title": "Заявка с сайта", "pipeline": sales.id, "stage": _stage(sales, "new").id,
        "company": company.id, "custom": {"priority": "A", "delivery_term": "2026-12-01"}})
    assert resp.status_code == 201, resp.json
    deal = db.session.get(Deal, resp.json["id"])
    assert deal.responsible.username == "admin"  # whoever registered it
    [take] = _tasks(deal)
    acceptor = login(take.assignee.username)
    resp = acceptor.api("put", f"/api/v1/task/{take.id}", json={
        "status": "done", "outcome": "Принять заявку", "result": "Беру"})
    assert resp.status_code == 200, resp.json
    db.session.expire_all()
    deal = db.session.get(Deal, deal.id)
    assert deal.stage.key == "in_work"
    assert deal.responsible_id == take.assignee_id
    check = next(t for t in _tasks(deal) if t.title == "Проверить товарные позиции")
    assert check.assignee_id == take.assignee_id
