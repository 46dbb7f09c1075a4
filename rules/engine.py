"""The engine core: may this move happen, and what does it cause.

Plain values in, decisions and effects out. The application adapter gives the record's
values (old and new), the actor and the local time; it applies the returned effects in the
transaction of the move. Each effect carries a unique key built from the transition id, so
applying the same move twice can never create a task twice."""
from __future__ import annotations

import datetime as dt
import string
from dataclasses import dataclass, field

from errors import MissingFields, TransitionNotAllowed
from rules.conditions import evaluate
from rules.definition import ActionDef, ProcessDef, StageDef
from rules.durations import add_duration


@dataclass(frozen=True)
class Effect:
    """One thing a move causes. `params` are resolved (templates rendered, due time set)."""

    action: str
    key: str            # unique per transition: "<transition id>:<stage>:<on>:<action key>"
    rule: str           # "<process>.<stage>.<on_enter|on_leave>.<action key>"
    stage: str
    params: dict = field(default_factory=dict)
    due_at: dt.datetime | None = None


@dataclass(frozen=True)
class Plan:
    process: str
    from_stage: str | None
    to_stage: str
    transition_id: str
    effects: tuple[Effect, ...]
    stage_deadline: dt.datetime | None = None


def _is_empty(value) -> bool:
    return value is None or value == "" or value == [] or value == {}


class _Values(dict):
    """Formatter mapping with dotted access ({responsible.full_name}); unknown -> ''."""

    def __missing__(self, key):
        return ""


class _Formatter(string.Formatter):
    def get_field(self, field_name, args, kwargs):
        value = kwargs
        for part in field_name.split("."):
            value = value.get(part, "") if isinstance(value, dict) else getattr(value, part, "")
        return ("" if value is None else value), field_name


def render(template: str, context: dict) -> str:
    return _Formatter().vformat(template, (), _Values(context))


def why_not(process: ProcessDef, from_key: str | None, to_key: str,
            values: dict) -> TransitionNotAllowed | MissingFields | None:
    """One answer for the button and the request: None, or the typed reason."""
    try:
        target = process.stage(to_key)
    except KeyError:
        return TransitionNotAllowed(f"В процессе «{process.name}» нет этапа «{to_key}»")
    if from_key is not None and from_key != to_key:
        try:
            source = process.stage(from_key)
        except KeyError:
            return TransitionNotAllowed(f"В процессе «{process.name}» нет этапа «{from_key}»")
        if source.moves is not None and to_key not in source.moves:
            return TransitionNotAllowed(
                f"Переход «{source.name}» → «{target.name}» не разрешён")
    required = list(target.required)
    for fields, condition in target.required_if:
        if evaluate(condition, values):
            required += [f for f in fields if f not in required]
    missing = {key: process.labels.get(key, key) for key in required
               if _is_empty(values.get(key))}
    if target.kind == "lost" and process.lost_reason_list:
        if _is_empty(values.get("lost_reason")):
            missing.setdefault("lost_reason", process.labels.get("lost_reason",
                                                                 "Причина проигрыша"))
        elif values.get("lost_reason_is_other") and _is_empty(values.get("lost_comment")):
            missing.setdefault("lost_comment", process.labels.get("lost_comment",
                                                                  "Комментарий к причине"))
    if missing:
        return MissingFields(target.name, missing)
    return None


def plan_move(process: ProcessDef, from_key: str | None, to_key: str, values: dict,
              transition_id: str, now_local: dt.datetime, old: dict | None = None,
              context: dict | None = None) -> Plan:
    """Raises the typed refusal, or returns the effects of leaving and entering."""
    refusal = why_not(process, from_key, to_key, values)
    if refusal is not None:
        raise refusal
    target = process.stage(to_key)
    effects: list[Effect] = []
    render_context = {**values, **(context or {}), "stage": {"name": target.name,
                                                             "key": target.key}}
    if from_key is not None and from_key != to_key:
        source = process.stage(from_key)
        effects += _effects(process, source, "on_leave", source.on_leave, values, old,
                            transition_id, now_local, render_context)
    if from_key != to_key:
        effects += _effects(process, target, "on_enter", target.on_enter, values, old,
                            transition_id, now_local, render_context)
    deadline = add_duration(now_local, target.deadline) if target.deadline else None
    return Plan(process=process.key, from_stage=from_key, to_stage=to_key,
                transition_id=transition_id, effects=tuple(effects), stage_deadline=deadline)


def _effects(process: ProcessDef, stage: StageDef, on: str, actions: tuple[ActionDef, ...],
             values, old, transition_id, now_local, context) -> list[Effect]:
    out = []
    for action in actions:
        if action.when is not None and not evaluate(action.when, values, old):
            continue
        params = dict(action.params)
        for key in ("title", "description", "text", "subject", "body"):
            if isinstance(params.get(key), str):
                params[key] = render(params[key], context)
        if action.name == "set_field" and isinstance(params.get("value"), dict) \
                and "after" in params["value"]:
            # "Дата согласования КП устанавливается в 2 раб дня": a date counted from now.
            params["value"] = add_duration(now_local, params["value"]["after"]).date()
        due = add_duration(now_local, params["deadline"]) if params.get("deadline") else None
        if action.name in ("schedule",) and params.get("after"):
            due = add_duration(now_local, params["after"])
        out.append(Effect(action=action.name, key=f"{transition_id}:{stage.key}:{on}:"
                          f"{action.key}", rule=f"{process.key}.{stage.key}.{on}.{action.key}",
                          stage=stage.key, params=params, due_at=due))
    return out
