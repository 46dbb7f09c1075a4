"""Demo leads, deals, tasks, events and orders (sections of `flask crm demo`)."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import select

from app.demo import SECTIONS
from app.extensions import db
from models.deal import Deal, DealItem, PaymentScheduleEntry
from models.event import Event
from models.lead import Lead
from models.order import Order, OrderItem
from models.pipeline import Pipeline, Stage
from models.reference import ReferenceItem, ReferenceList
from models.task import Task

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
    found = list(db.session.scalars(select(Pipeline).where(Pipeline.entity == entity,
                                                           Pipeline.active.is_(True))))
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


def _items(list_code: str) -> list[ReferenceItem]:
    return list(db.session.scalars(select(ReferenceItem).join(ReferenceList).where(
        ReferenceList.code == list_code, ReferenceItem.active.is_(True),
        ReferenceItem.is_other.is_(False))))


def _managers(users):
    return [users["manager"], users["manager2"], users["manager3"]]


def demo_leads_and_deals(ctx) -> str:
    rnd, users, companies = ctx["rnd"], ctx["users"], ctx["companies"]
    sources, lost = _items("lead_source"), _items("lost_reason")
    lead_count = 0
    for pipeline in _pipelines("lead"):
        stages = [s for s in _stages(pipeline) if s.kind == "open"] or _stages(pipeline)
        for i in range(max(ctx["deals"] // 3, 3)):
            company = rnd.choice(companies)
            db.session.add(Lead(
                title=f"Заявка с сайта №{i + 1}: {company.name}", pipeline=pipeline,
                stage=rnd.choice(stages), source=rnd.choice(sources),
                responsible=rnd.choice(_managers(users)), company_name=company.name,
                contact_name=company.contacts[0].full_name if company.contacts else None,
                phone=company.phone, email=company.email))
            lead_count += 1
    deals = []
    pipelines = _pipelines("deal")
    for i in range(ctx["deals"]):
        pipeline = pipelines[i % len(pipelines)]
        stage = rnd.choice(_stages(pipeline))
        company = rnd.choice(companies)
        deal = Deal(title=f"{rnd.choice(DEAL_TITLES)} — {company.name}", pipeline=pipeline,
                    stage=stage, responsible=rnd.choice(_managers(users)), company=company,
                    source=rnd.choice(sources), contacts=list(company.contacts[:2]))
        if stage.kind == "lost":
            deal.lost_reason = rnd.choice(lost)
        if i % 5 == 0:
            deal.observers = [users["sales_head"]]
        db.session.add(deal)
        for product in rnd.sample(ctx["products"], k=rnd.randint(1, 3)):
            db.session.add(DealItem(deal=deal, product=product,
                                    quantity=Decimal(rnd.choice([1, 2, 5, 100, 500]))))
        deals.append(deal)
    db.session.flush()
    for deal in deals[::3]:
        for share, days in ((Decimal(50), 5), (Decimal(50), 30)):
            db.session.add(PaymentScheduleEntry(
                deal=deal, percent=share, planned_date=ctx["today"] + dt.timedelta(days=days)))
    ctx["deal_objs"] = deals
    return f"Лиды: {lead_count}, сделки: {len(deals)} в воронках: " + \
        ", ".join(p.name for p in pipelines)


def demo_tasks(ctx) -> str:
    rnd, users, now = ctx["rnd"], ctx["users"], ctx["now"]
    count = 0
    # Two deals in three get an open task; the rest show "Нет задач" in the lists.
    for i, deal in enumerate(ctx.get("deal_objs", [])):
        if i % 3 == 2:
            continue
        db.session.add(Task(
            title=rnd.choice(TASK_TITLES), description=f"По сделке «{deal.title}»",
            assignee_id=deal.responsible_id, creator_id=users["sales_head"].id,
            deadline=now + dt.timedelta(hours=rnd.randint(-48, 96)),
            record_entity="deal", record_id=deal.id))
        count += 1
    return f"Задачи: {count}"


def demo_events(ctx) -> str:
    rnd, users = ctx["rnd"], ctx["users"]
    topics = {item.code: item for item in _items("event_topic")}
    count = 0
    for company in ctx["companies"][: max(len(ctx["companies"]) // 2, 3)]:
        completed = rnd.random() < 0.5
        db.session.add(Event(
            kind=rnd.choice(["call", "email"]), direction="incoming",
            topic=topics.get("first_contact"), subject="Звонок от потенциального клиента",
            state="completed" if completed else "planned", company=company,
            content="Интересуется ценами и сроками поставки" if completed else None,
            responsible=rnd.choice(_managers(users))))
        count += 1
    return f"События: {count}"


def demo_orders(ctx) -> str:
    rnd, users = ctx["rnd"], ctx["users"]
    sources = _items("lead_source")
    count = 0
    for company in ctx["companies"][: max(len(ctx["companies"]) // 3, 2)]:
        has_orders = db.session.scalar(select(Order.id).where(Order.company_id == company.id))
        order = Order(company=company, contact=company.contacts[0] if company.contacts else None,
                      contract=f"Договор № {rnd.randint(10, 99)}/{ctx['today'].year} "
                               f"от {ctx['today']:%d.%m.%Y}",
                      ship_date=ctx["today"] + dt.timedelta(days=rnd.randint(5, 30)),
                      status="open", responsible=rnd.choice(_managers(users)),
                      executor=users["executor"], requires_approval=rnd.random() < 0.3,
                      source=None if has_orders else rnd.choice(sources))
        db.session.add(order)
        for product in rnd.sample(ctx["products"], k=rnd.randint(1, 3)):
            db.session.add(OrderItem(order=order, product=product,
                                     quantity=Decimal(rnd.choice([1, 10, 50]))))
        count += 1
    return f"Заказы покупателей: {count}"


SECTIONS.extend([demo_leads_and_deals, demo_tasks, demo_events, demo_orders])
