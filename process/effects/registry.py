"""The handler of each engine action. The engine's action registry (rules.actions.ACTIONS)
and this table are checked against each other at start-up: an action that passes the
definition check always has a handler here."""
from __future__ import annotations

from errors import CrmError
from process import approvals
from process.effects import documents, hr, messages, people, records, schedule, tasks
from rules.actions import ACTIONS

# `move_stage` is the service's own: it is a transition, not an effect written beside one.
SERVICE_ACTIONS = frozenset({"move_stage"})

HANDLERS = {
    "create_task": tasks.create_task,
    "notify": messages.notify,
    "send_message": messages.send_message,
    "set_field": records.set_field,
    "create_record": records.create_record,
    "move_record": records.move_record,
    "convert_lead": records.convert_lead,
    "schedule": schedule.schedule,
    "repeat": schedule.schedule,
    "remind": schedule.schedule,
    "assign": people.assign,
    "start_approval": approvals.start,
    "register_absence": hr.register_absence,
    "generate_document": documents.generate_document,
}


def handler_for(action: str):
    try:
        return HANDLERS[action]
    except KeyError:
        raise CrmError(f"Действие «{action}» не поддерживается: переход отменён") from None


def check_registry() -> None:
    """Raises at start-up when an available engine action has no handler, or a handler
    answers an action the engine does not know."""
    available = {name for name, spec in ACTIONS.items() if spec.available}
    missing = available - set(HANDLERS) - SERVICE_ACTIONS
    unknown = set(HANDLERS) - set(ACTIONS)
    if missing or unknown:
        raise RuntimeError(f"Engine actions without a handler: {sorted(missing)}; "
                           f"handlers of unknown actions: {sorted(unknown)}")
