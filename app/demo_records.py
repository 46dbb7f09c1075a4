"""Demo leads, deals, tasks, events and orders: the sections of `flask crm demo` after its
users, counterparties and products (app/demo.py lists them in order).

A record whose pipeline (or entity) has an installed process is created on its first stage
and moved on through the transition service (app/demo_moves.py); one without keeps the
simple path: created where it stands."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import select

from app.demo_moves import CONTENTS, DemoValues, choose_path, reference_items, walk
from app.extensions import db
from models.deal import Deal, DealItem, PaymentScheduleEntry
from models.event import Event
from models.lead import Lead
from models.order import Order, OrderItem
from models.pipeline import Pipeline, Stage
from models.task import Task
from process.catalog import process_for_pipeline
from process.snapshot import process_of

# Used only when no process definition has installed a pipeline yet.
FALLBACK_PIPELINES = {
    "deal": ("demo_sales", "Продажа (демо)", [
        ("new", "Новая заявка", "open"), ("in_work", "Взят в работу", "open"),
        ("proposal", "КП", "open"), ("contract", "Договор", "open"),
        ("invoice", "Счёт", "open"), ("shipping", "К отгрузке", "open"),
        ("won", "Сделка успешна", "won"), ("lost", "Сделка провалена", "lost")]),
    "lead": ("demo_leads", "Лиды (демо)", [
        ("new", "Новый лид", "open"), ("processing", "Обработка заявки", "open"),
        ("quality", "Проверка качества", "open"), ("converted", "Сконвертирован", "won"),
        ("bad", "Некачественный", "lost")]),
}
DEAL_TITLES = ["Поставка эко-упаковки", "Кровать «Домик» для детской", "Монтаж линии фасовки",
               "Годовой контракт на стаканчики", "Поверка весов", "Дизайн-проект детской",
               "Пакеты крафт для сети кофеен", "Коробки для интернет-магазина"]
TASK_TITLES = ["Связаться с клиентом", "Отправить КП клиенту",
               "Проверить товарные позиции", "Уточнить реквизиты для договора",
               "Получить обратную связь по КП", "Контроль оплаты счёта"]


def _pipelines(entity: str) -> list[Pipeline]:
    found = list(db.session.scalars(select(Pipeline).where(
        Pipeline.entity == entity, Pipeline.active.is_(True))
        .order_by(Pipeline.sort_order, Pipeline.id)))
    if found:
        return found
    code, name, stages = FALLBACK_PIPELINES[entity]
    pipeline = Pipeline(code=code, name=name, entity=entity)
    db.session.add(pipeline)
    for order, (key, stage_name, kind) in enumerate(stages, start=1):
        db.session.add(Stage(pipeline=pipeline, key=key, name=stage_name, kind=kind,
                             sort_order=order * 10))
    db.session.flush()
    return [pipeline]


def _stages(pipeline: Pipeline) -> list[Stage]:
    return list(db.session.scalars(select(Stage).where(Stage.pipeline_id == pipeline.id)
                                   .order_by(Stage.sort_order)))


def _managers(users):
    return [users["manager"], users["manager2"], users["manager3"]]


def _enter(record, ctx, company) -> int:
    """Puts a new record into its process, or where the simple path says (no process).
    Returns the moves made through the transition service."""
    process = process_of(record)
    if process is None:
        db.session.add(record)
        return 0
    path = choose_path(ctx["rnd"], process)
    moves = walk(record, path, DemoValues(ctx["rnd"], ctx, company))
    ctx["moves"] = ctx.get("moves", 0) + moves
    return moves


def _first_stage(pipeline: Pipeline, rnd, simple_choices) -> Stage:
    """A new record stands on the pipeline's first stage; with no process behind the
    pipeline, the simple path puts it on a random one."""
    stages = _stages(pipeline)
    if process_for_pipeline(pipeline.id) is not None:
        return stages[0]
    return rnd.choice(simple_choices(stages))


def demo_leads(ctx) -> str:
    rnd, users, companies = ctx["rnd"], ctx["users"], ctx["companies"]
    sources = reference_items("lead_source")
    count = 0
    for pipeline in _pipelines("lead"):
        for i in range(max(ctx["deals"] // 3, 3)):
            company = rnd.choice(companies)
            stage = _first_stage(pipeline, rnd, lambda stages: [
                s for s in stages if s.kind == "open"] or stages)
            lead = Lead(
                title=f"Заявка с сайта №{i + 1}: {company.name}", pipeline=pipeline,
                stage=stage, source=rnd.choice(sources),
                responsible=rnd.choice(_managers(users)), company_name=company.name,
                contact_name=company.contacts[0].full_name if company.contacts else None,
                phone=company.phone, email=company.email)
            _enter(lead, ctx, company)
            count += 1
    return f"Лиды: {count}"


def demo_deals(ctx) -> str:
    rnd, users, companies = ctx["rnd"], ctx["users"], ctx["companies"]
    sources, lost = reference_items("lead_source"), reference_items("lost_reason")
    deals = []
    pipelines = _pipelines("deal")
    for i in range(ctx["deals"]):
        pipeline = pipelines[i % len(pipelines)]
        stage = _first_stage(pipeline, rnd, lambda stages: stages)
        company = rnd.choice(companies)
        deal = Deal(title=f"{rnd.choice(DEAL_TITLES)} — {company.name}", pipeline=pipeline,
                    stage=stage, responsible=rnd.choice(_managers(users)), company=company,
                    source=rnd.choice(sources), contacts=list(company.contacts[:2]))
        if stage.kind == "lost":
            deal.lost_reason = rnd.choice(lost)
        if i % 5 == 0:
            deal.observers = [users["sales_head"]]
        for product in rnd.sample(ctx["products"], k=rnd.randint(1, 3)):
            deal.items.append(DealItem(product=product,
                                       quantity=Decimal(rnd.choice([1, 2, 5, 100, 500]))))
        _enter(deal, ctx, company)
        deals.append(deal)
    db.session.flush()
    for deal in deals[::3]:
        for share, days in ((Decimal(50), 5), (Decimal(50), 30)):
            db.session.add(PaymentScheduleEntry(
                deal=deal, percent=share, planned_date=ctx["today"] + dt.timedelta(days=days)))
    ctx["deal_objs"] = deals
    return f"Сделки: {len(deals)} в воронках: " + ", ".join(p.name for p in pipelines)


def demo_tasks(ctx) -> str:
    rnd, users, now = ctx["rnd"], ctx["users"], ctx["now"]
    count = 0
    # The head of sales sets a task on one in three open deals their process gave none:
    # the others show «Нет задач» in the lists, as closed deals do.
    idle = [d for d in ctx.get("deal_objs", []) if d.stage.kind == "open"
            and not d.has_open_task]
    for deal in idle[1::3]:
        db.session.add(Task(
            title=rnd.choice(TASK_TITLES), description=f"По сделке «{deal.title}»",
            assignee_id=deal.responsible_id, creator_id=users["sales_head"].id,
            deadline=now + dt.timedelta(hours=rnd.randint(-48, 96)),
            record_entity="deal", record_id=deal.id))
        count += 1
    return f"Задачи руководителя: {count}"


def demo_events(ctx) -> str:
    """Incoming calls and letters (1C «Событие» №1); a completed one brings event №2
    «Первый контакт с клиентом» and its reminder, by the process."""
    rnd, users = ctx["rnd"], ctx["users"]
    topics = {item.code: item for item in reference_items("event_topic")}
    count = 0
    for company in ctx["companies"][: max(len(ctx["companies"]) // 2, 3)]:
        kind = rnd.choice(["call", "email"])
        topic = topics.get("client_call" if kind == "call" else "client_letter")
        event = Event(
            kind=kind, direction="incoming", topic=topic or topics.get("first_contact"),
            subject="Звонок от потенциального клиента" if kind == "call"
            else "Письмо от потенциального клиента", state="planned", company=company,
            content=rnd.choice(CONTENTS), responsible=rnd.choice(_managers(users)))
        _enter(event, ctx, company)
        count += 1
    return f"События: {count}"


def demo_orders(ctx) -> str:
    rnd, users = ctx["rnd"], ctx["users"]
    sources = reference_items("lead_source")
    count = 0
    for company in ctx["companies"][: max(len(ctx["companies"]) // 3, 2)]:
        has_orders = db.session.scalar(select(Order.id).where(Order.company_id == company.id))
        order = Order(company=company, contact=company.contacts[0] if company.contacts else None,
                      contract=f"Договор № {rnd.randint(10, 99)}/{ctx['today'].year} "
                               f"от {ctx['today']:%d.%m.%Y}",
                      ship_date=ctx["today"] + dt.timedelta(days=rnd.randint(5, 30)),
                      status="request", responsible=rnd.choice(_managers(users)),
                      executor=users["executor"], requires_approval=rnd.random() < 0.3,
                      source=None if has_orders else rnd.choice(sources))
        for product in rnd.sample(ctx["products"], k=rnd.randint(1, 3)):
            order.items.append(OrderItem(product=product,
                                         quantity=Decimal(rnd.choice([1, 10, 50]))))
        if process_of(order) is None:
            order.status = "open"  # the simple path: a posted order
        _enter(order, ctx, company)
        count += 1
    return f"Заказы покупателей: {count}"


def demo_moves_summary(ctx) -> str:
    return f"Переходов по этапам через процессы: {ctx.get('moves', 0)}"
