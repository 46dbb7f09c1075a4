"""Builders shared by the pipeline, lead and deal tests (imported by test_lead_* and
test_deal_*), and the checks of the builders themselves."""
from __future__ import annotations

from decimal import Decimal

from sqlalchemy import select

from app.extensions import db
from models.base import acting_as
from models.deal import Deal
from models.lead import Lead
from models.pipeline import CustomFieldDef, Pipeline, Stage
from tests.helpers import user

STAGES = [("new", "Новая", "open"), ("talks", "Переговоры", "open"),
          ("won", "Успешно", "won"), ("lost", "Провал", "lost")]


def make_pipeline(code: str = "sales", entity: str = "deal", name: str | None = None,
                  stages=STAGES, fields=()) -> Pipeline:
    pipeline = Pipeline(code=code, name=name or f"Воронка {code}", entity=entity)
    for order, (key, stage_name, kind) in enumerate(stages):
        pipeline.stages.append(Stage(key=key, name=stage_name, kind=kind,
                                     sort_order=(order + 1) * 10))
    for order, spec in enumerate(fields):
        pipeline.fields.append(CustomFieldDef(sort_order=order, **spec))
    db.session.add(pipeline)
    db.session.commit()
    return pipeline


def stage(pipeline: Pipeline, key: str) -> Stage:
    return next(s for s in pipeline.stages if s.key == key)


def make_deal(title: str, responsible: str, pipeline: Pipeline | None = None,
              stage_key: str = "new", observers=(), budget=None, **kw) -> Deal:
    pipeline = pipeline or db.session.scalar(select(Pipeline).where(Pipeline.entity == "deal"))
    deal = Deal(title=title, pipeline=pipeline, stage=stage(pipeline, stage_key),
                responsible=user(responsible), **kw)
    deal.observers = [user(u) for u in observers]
    if budget is not None:
        deal.budget, deal.budget_manual = Decimal(budget), True
    with acting_as(deal.responsible.id):
        db.session.add(deal)
        db.session.commit()
    return deal


def make_lead(title: str, responsible: str, pipeline: Pipeline | None = None,
              stage_key: str = "new", observers=(), **kw) -> Lead:
    pipeline = pipeline or db.session.scalar(select(Pipeline).where(Pipeline.entity == "lead"))
    lead = Lead(title=title, pipeline=pipeline, stage=stage(pipeline, stage_key),
                responsible=user(responsible), **kw)
    lead.observers = [user(u) for u in observers]
    db.session.add(lead)
    db.session.commit()
    return lead


def test_builders_make_consistent_records(app):
    pipeline = make_pipeline()
    deal = make_deal("Поставка стеллажей", "manager", pipeline, budget="1000")
    assert deal.stage.pipeline_id == pipeline.id
    assert deal.stage_entered_at is not None
    assert deal.version == 1
    assert deal.check() == {}
    assert [s.key for s in pipeline.stages] == ["new", "talks", "won", "lost"]
