"""The registered checks a stage may name (`checks:` in a definition, rules.definition.CHECKS):
what a record must pass to enter the stage beyond its required fields. Each answers None or
the refusal for the field it is about."""
from __future__ import annotations

from errors import FieldErrors
from process.absence import spend_check
from process.snapshot import entity_of, record_values


def leave_balance(record, process) -> FieldErrors | None:
    """A vacation request asks for no more days than the employee has left (Labour Code
    art. 120: public holidays inside it are not counted)."""
    values = record_values(record, process)
    if values.get("leave_kind") != "vacation" or not values.get("date_from"):
        return None
    problem = spend_check(record.responsible_id, values["date_from"],
                          values.get("date_to") or values["date_from"],
                          source_entity=entity_of(record), source_id=record.id)
    return FieldErrors({"date_to": problem}) if problem else None


CHECKS = {"leave_balance": leave_balance}


def refusal(record, process, to_key: str) -> FieldErrors | None:
    """The first refusal of the checks of stage `to_key`, or None."""
    try:
        names = process.stage(to_key).checks
    except KeyError:
        return None
    for name in names:
        problem = CHECKS[name](record, process)
        if problem is not None:
            return problem
    return None
