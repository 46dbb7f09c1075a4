"""The default plans of employees' reports (seed 002 «Формирование отчётов»): a daily and a
weekly one for every department, by stable keys, never overwriting an admin's edits."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from app.extensions import db
from app.seed_records import remember_seeded, seed_record
from models.report import ReportPeriod, ReportPlan

SEED_KIND = "report_plan"
DEFAULT_PLANS = {
    "daily": {
        "name": "Ежедневный отчёт",
        "period": ReportPeriod.daily.value,
        "title_template": "Ежедневный отчёт: план работ на {date}",
        "description": "Впишите в «Результат» план работ на сегодня и завершите задачу.",
        "deadline_time": "18:00",
    },
    "weekly": {
        "name": "Еженедельный отчёт",
        "period": ReportPeriod.weekly.value,
        "title_template": "Еженедельный отчёт: план работ на неделю {week}",
        "description": "Впишите в «Результат» план работ на неделю и завершите задачу.",
        "deadline_time": "18:00",
    },
}


def _snapshot(plan: ReportPlan) -> dict:
    """The seeded fields as the seed record keeps them (JSON: the time as HH:MM)."""
    return {"name": plan.name, "department_id": plan.department_id, "period": plan.period,
            "title_template": plan.title_template, "description": plan.description,
            "deadline_time": plan.deadline_time.strftime("%H:%M") if plan.deadline_time
            else None, "active": plan.active}


def _wanted(spec: dict) -> dict:
    return {"department_id": None, "active": True, **spec}


def _apply(plan: ReportPlan, wanted: dict) -> None:
    for field, value in wanted.items():
        if field == "deadline_time":
            value = dt.time.fromisoformat(value)
        setattr(plan, field, value)


def seed_report_plans() -> list[str]:
    created = updated = kept = 0
    for key, spec in DEFAULT_PLANS.items():
        wanted = _wanted(spec)
        plan = db.session.scalar(select(ReportPlan).where(ReportPlan.key == key))
        rec = seed_record(SEED_KIND, key)
        if plan is None:
            if rec is not None:
                kept += 1  # the admin deleted it: do not bring it back
                continue
            plan = ReportPlan(key=key)
            _apply(plan, wanted)
            db.session.add(plan)
            created += 1
        elif rec is not None and rec.value == _snapshot(plan):
            if rec.value != wanted:
                _apply(plan, wanted)
                updated += 1
        else:
            kept += 1
            continue
        remember_seeded(SEED_KIND, key, wanted)
    db.session.commit()
    return [f"Планы отчётов: создано {created}, обновлено {updated}, "
            f"оставлено как изменил администратор {kept}"]
