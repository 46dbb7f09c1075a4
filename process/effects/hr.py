"""Effects of employees' requests: an approved sick leave, leave or day off marks its
employee away for its dates (process/absence.py), which the absence calendar shows and
approval routes go around."""
from __future__ import annotations

from errors import CrmError
from process.absence import register_absence as register
from process.effects.context import EffectContext
from process.snapshot import record_values
from rules.engine import Effect


def register_absence(ctx: EffectContext, effect: Effect) -> None:
    record, params = ctx.record, effect.params
    values = record_values(record, ctx.process)
    kind = params.get("kind") or (params.get("kinds") or {}).get(values.get(params.get(
        "kind_field")))
    if kind is None:
        return  # a value the definition does not turn into an absence (none for «Отпуск»?)
    employee = getattr(record, "responsible_id", None)
    date_from, date_to = values.get("date_from"), values.get("date_to") or \
        values.get("date_from")
    if employee is None or date_from is None:
        raise CrmError("Отсутствие не отмечено: в заявке не указаны сотрудник или даты")
    register(employee, kind, date_from, date_to, source_entity=ctx.entity,
             source_id=record.id, comment=str(record))
