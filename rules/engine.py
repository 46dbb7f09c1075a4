"""The engine core: may this move happen, and what does it cause.

Plain values in, decisions and effects out. The application adapter gives the record's
values (old and new), the actor and the local time; it applies the returned effects in the
transaction of the move. Each effect carries a unique key built from the transition id, so
applying the same move twice can never create a task twice.

Triggers other than a stage move, all pure and returning `Effect`s:
- `plan_field_change`: a save that changes fields but stays in the stage (`on_change`);
- `plan_outcome`: a person chose an outcome of a task the engine created (by its rule);
- `plan_manual` / `manual_actions`: «создать на основании» (`based_on`);
- `plan_scheduled`: a `schedule` or `repeat` row fell due: its inner action now;
- `schedule_due`: the due time of a timed effect, again when the date it hangs on changed.

Effect actions and their resolved params, for the adapter:
- create_task: title, description (rendered), assignee / creator / observers (person specs:
  "responsible", "actor", {role}, {department_head}, {user}, {field}, {chosen}), outcomes,
  checklist, kind, fields; `due_at` is the deadline (None while its date field is empty);
- notify (to, text, channel), remind (to, text; `due_at`), send_message (subject, body,
  channel, attachments: file fields of the record), set_field (field, value), assign,
  move_stage (to: a stage of this record's process, through the transition service),
  convert_lead (pipeline);
- schedule (`due_at`; action: the raw inner action, run by `plan_scheduled`; keep),
  repeat (`due_at` of the first run; every; action) — pending rows of a stage are cancelled
  when the record leaves it unless `keep` is true;
- create_record: entity, values (copied and literal, rendered; a reference field holds the
  item code), basis (link the new record «на основании» this one), responsible (person
  spec), reminder ({to, text, due_at}: a 1C «Напоминание» on the new record; person specs of
  `to` are resolved on the NEW record when the reminder is due, the actor if empty);
- move_record: record ("basis"), entity, to: move the basis record, if it is an `entity`,
  through the transition service of its own process (skipped for another entity).

Values of reference fields are item codes (e.g. `topic: refusal`); dates may be `date`,
`datetime` or ISO strings."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal
import hashlib
import string
from dataclasses import dataclass, field, replace

from errors import FieldErrors, MissingFields, TransitionNotAllowed
from rules.conditions import evaluate
from rules.definition import ActionDef, ProcessDef, StageDef, action_from_dict
from rules.durations import Duration, add_duration, parse_duration
from rules.routes import normalized

DEFAULT_AT = dt.time(9, 0)  # a task or reminder due on a plain date comes at 9:00 local


KEY_MAX = 180  # effect_key columns hold 200; a suffix such as ":reminder" may follow


@dataclass(frozen=True)
class Effect:
    """One thing a move causes. `params` are resolved (templates rendered, due time set)."""

    action: str
    key: str            # unique per transition: "<transition id>:<stage>:<on>:<action key>"
    rule: str           # "<process>.<stage>.<on_enter|on_leave>.<action key>"
    stage: str
    params: dict = field(default_factory=dict)
    due_at: dt.datetime | None = None
    # The params' templates before rendering: `rerender` renders them again when an effect
    # before this one changed the record (a letter after `assign` names the new manager).
    templates: dict = field(default_factory=dict, compare=False)

    def __post_init__(self):
        # Keys of effects deep in outcome loops outgrow a database column; the same long key
        # always gives the same short one, so idempotency holds.
        if len(self.key) > KEY_MAX:
            digest = hashlib.sha1(self.key.encode("utf-8")).hexdigest()
            object.__setattr__(self, "key", f"{self.key[:KEY_MAX - 42]}#{digest}")


@dataclass(frozen=True)
class Plan:
    process: str
    from_stage: str | None
    to_stage: str
    transition_id: str
    effects: tuple[Effect, ...]
    stage_deadline: dt.datetime | None = None


def _positive(value) -> bool:
    try:
        return value is not None and value != "" and float(value) > 0
    except (TypeError, ValueError):
        return False


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
    required = list(process.required)
    positive: list[str] = []
    since: dict[str, str] = {}  # a field -> the first passed stage that requires it
    for stage in passed_stages(process, from_key, target):
        wanted = list(stage.required) + [f for fields, condition in stage.required_if
                                         if evaluate(condition, values) for f in fields]
        required += [f for f in wanted if f not in required]
        positive += [f for f in stage.required_positive if f not in positive]
        for name in wanted + list(stage.required_positive):
            since.setdefault(name, stage.name)
    for fields, condition in process.required_if:
        if evaluate(condition, values):
            required += [f for f in fields if f not in required]
    missing = {key: process.labels.get(key, key) for key in required
               if _is_empty(values.get(key))}
    for key in positive:
        if key not in missing and not _positive(values.get(key)):
            missing[key] = process.labels.get(key, key)
    if target.kind == "lost" and process.lost_reason_list:
        if _is_empty(values.get("lost_reason")):
            missing.setdefault("lost_reason", process.labels.get("lost_reason",
                                                                 "Причина проигрыша"))
        elif values.get("lost_reason_is_other") and _is_empty(values.get("lost_comment")):
            missing.setdefault("lost_comment", process.labels.get("lost_comment",
                                                                  "Комментарий к причине"))
    if missing:
        return MissingFields(target.name, missing, since)
    return None


def passed_stages(process: ProcessDef, from_key: str | None,
                  target: StageDef) -> list[StageDef]:
    """The stages whose required fields a move must satisfy: the target, and every open
    stage it jumps over going forward (Bitrix24's «обязательное, начиная со стадии»). A move
    to a lost stage or a stage aside (Отложенные) asks only for its own fields; moving back
    skips nothing."""
    if from_key is None or target.kind == "lost" or target.aside:
        return [target]
    order = [stage.key for stage in process.stages]
    try:
        start, end = order.index(from_key), order.index(target.key)
    except ValueError:
        return [target]
    source = process.stages[start]
    if source.kind != "open" or source.aside:
        # Back from a closed or parked stage: the line is walked again from its start (a
        # lost deal reopened at a late stage owes every field up to it).
        start = -1
    skipped = [stage for stage in process.stages[start + 1:end]
               if stage.kind == "open" and not stage.aside]
    return [*skipped, target]


def plan_move(process: ProcessDef, from_key: str | None, to_key: str, values: dict,
              transition_id: str, now_local: dt.datetime, old: dict | None = None,
              context: dict | None = None) -> Plan:
    """Raises the typed refusal, or returns the effects of leaving and entering."""
    refusal = why_not(process, from_key, to_key, values)
    if refusal is not None:
        raise refusal
    target = process.stage(to_key)
    effects: list[Effect] = []
    render_context = {**_in_words(process, values), **(context or {}),
                      "stage": {"name": target.name, "key": target.key}}
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
        effect = _resolve(action, f"{process.key}.{stage.key}.{on}.{action.key}",
                          f"{transition_id}:{stage.key}:{on}:{action.key}", stage.key,
                          values, old, now_local, context)
        if effect is not None:
            out.append(effect)
    return out


def _resolve(action: ActionDef, rule: str, key: str, stage_key: str | None, values, old,
             now_local, context) -> Effect | None:
    """One action as an effect (None when its condition does not hold)."""
    if action.when is not None and not evaluate(action.when, values, old):
        return None
    params = dict(action.params)
    templates = {name: params[name] for name in TEMPLATE_PARAMS
                 if isinstance(params.get(name), str)}
    for name, text in templates.items():
        params[name] = render(text, context)
    if params.get("once") and values.get("id") is not None:
        # One effect per record and action, whichever trigger (stage entry or a field set
        # later) reaches it first: «Задание инженерам» is created once.
        key = f"once:{rule.split('.')[0]}:{values['id']}:{action.key}"
    if action.name == "set_field" and isinstance(params.get("value"), dict) \
            and "after" in params["value"]:
        # "Дата согласования КП устанавливается в 2 раб дня": a date counted from now.
        params["value"] = add_duration(now_local, params["value"]["after"]).date()
    due = None
    if action.name == "create_task":
        due = schedule_due(params, values, now_local, offset="deadline")
    elif action.name in ("schedule", "remind"):
        due = schedule_due(params, values, now_local)
        if due is None and not params.get("relative_to"):
            due = now_local
    elif action.name == "repeat":
        due = add_duration(now_local, params["every"])
    elif action.name == "create_record":
        params = _record_params(params, values, now_local, context)
    return Effect(action=action.name, key=key, rule=rule, stage=stage_key or "",
                  params=params, due_at=due, templates=templates)


TEMPLATE_PARAMS = ("title", "description", "text", "subject", "body")


def rerender(process: ProcessDef, effect: Effect, values: dict, context: dict) -> Effect:
    """`effect` with its templates rendered from the record as it is now."""
    if not effect.templates:
        return effect
    render_context = _context(process, effect.stage or None, values, context)
    params = {**effect.params, **{name: render(text, render_context)
                                  for name, text in effect.templates.items()}}
    return replace(effect, params=params)


def _record_params(params: dict, values: dict, now_local, context) -> dict:
    copy = params.get("copy") or []
    pairs = copy.items() if isinstance(copy, dict) else ((name, name) for name in copy)
    new_values = {dest: values.get(src) for dest, src in pairs}
    for dest, value in (params.get("values") or {}).items():
        new_values[dest] = render(value, context) if isinstance(value, str) else value
    out = {**params, "values": new_values, "basis": params.get("basis", True)}
    out.pop("copy", None)
    reminder = params.get("reminder")
    if reminder:
        out["reminder"] = {"to": reminder["to"], "text": render(reminder["text"], context),
                           "due_at": add_duration(now_local, reminder["after"])}
    return out


def _as_datetime(value, at: str | None) -> dt.datetime | None:
    if value in (None, ""):
        return None
    clock = dt.time.fromisoformat(at) if at else DEFAULT_AT
    if isinstance(value, str):
        text = value.strip()
        try:
            value = dt.date.fromisoformat(text) if len(text) == 10 else \
                dt.datetime.fromisoformat(text)
        except ValueError:
            return None
    if isinstance(value, dt.datetime):
        return value.replace(tzinfo=None) if not at else \
            dt.datetime.combine(value.date(), clock)
    if isinstance(value, dt.date):
        return dt.datetime.combine(value, clock)
    return None


def schedule_due(params: dict, values: dict, now_local: dt.datetime,
                 offset: str = "after") -> dt.datetime | None:
    """When a timed effect is due: `now_local` + `after` (or + `deadline` for a task), or the
    date field `relative_to` + `after` / − `before`, at `at` (default 9:00) for a plain date.
    None while that date field is empty: call it again when the date changes."""
    field_key = params.get("relative_to")
    if field_key:
        base = _as_datetime(values.get(field_key), params.get("at"))
        if base is None:
            return None
        if params.get("before"):
            before = parse_duration(params["before"])
            return add_duration(base, Duration(-before.amount, before.unit))
        return add_duration(base, params[offset]) if params.get(offset) else base
    return add_duration(now_local, params[offset]) if params.get(offset) else None


def readonly_fields(process: ProcessDef, stage_key: str, values: dict) -> tuple[str, ...]:
    """Fields a person may not edit in this stage (the process's and the stage's)."""
    stage = process.stage(stage_key)
    out = list(process.readonly) + [f for f in stage.readonly if f not in process.readonly]
    for fields, condition in process.readonly_if + stage.readonly_if:
        if evaluate(condition, values):
            out += [f for f in fields if f not in out]
    return tuple(out)


def _context(process: ProcessDef, stage_key: str | None, values: dict, context) -> dict:
    out = {**_in_words(process, values), **(context or {})}
    if stage_key:
        try:
            stage = process.stage(stage_key)
            out["stage"] = {"name": stage.name, "key": stage.key}
        except KeyError:
            pass
    return out


def _in_words(process: ProcessDef, values: dict) -> dict:
    """Values as a text shows them to people: dates «20.11.2026», amounts «12 500,00» (a
    template adds the currency where it wants it). Conditions keep the raw values."""
    types = {f.key: f.type for f in getattr(process, "fields", ())}
    out = dict(values)
    for key, value in values.items():
        kind = types.get(key)
        if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
            out[key] = value.strftime("%d.%m.%Y")
        elif kind == "date" and isinstance(value, str):
            try:
                out[key] = dt.date.fromisoformat(value).strftime("%d.%m.%Y")
            except ValueError:
                pass
        elif isinstance(value, Decimal) or (kind == "money" and isinstance(value, (int, float))
                                            and not isinstance(value, bool)):
            out[key] = _amount(value)
    return out


def _amount(value) -> str:
    try:
        number = Decimal(str(value)).quantize(Decimal("0.01"))
    except ArithmeticError:
        return str(value)
    return f"{number:,.2f}".replace(",", "\u00a0").replace(".", ",")


def plan_field_change(process: ProcessDef, values: dict, old: dict | None,
                      transition_id: str, now_local: dt.datetime,
                      stage_key: str | None = None, context: dict | None = None
                      ) -> tuple[Effect, ...]:
    """Effects of a save that changes fields of a record staying in its stage.

    Each `on_change` trigger fires when one of its `fields` differs between `old` and
    `values`, its `when` holds (conditions may look at `old` with `"old": true`) and the
    record is in one of its `stages` (if given). `stage_key` defaults to `values["stage"]`.
    A new record (`old` None) fires nothing: its creation is `plan_move(None, first stage)`.
    A save that also moves the stage is planned by `plan_move` alone: do not call this for
    it. Effect keys are "<transition id>:on_change:<trigger>:<action>"."""
    if old is None:
        return ()
    stage_key = stage_key or values.get("stage")
    render_context = _context(process, stage_key, values, context)
    out = []
    for trigger in process.triggers:
        if not any(old.get(f) != values.get(f) for f in trigger.fields):
            continue
        if trigger.stages is not None and stage_key not in trigger.stages:
            continue
        if trigger.when is not None and not evaluate(trigger.when, values, old):
            continue
        for action in trigger.actions:
            effect = _resolve(action, f"{process.key}.on_change.{trigger.key}.{action.key}",
                              f"{transition_id}:on_change:{trigger.key}:{action.key}",
                              stage_key, values, old, now_local, render_context)
            if effect is not None:
                out.append(effect)
    return tuple(out)


def manual_actions(process: ProcessDef, values: dict,
                   stage_key: str | None = None) -> list[tuple[str, str]]:
    """(key, Russian label) of what may be created «на основании» this record now."""
    stage_key = stage_key or values.get("stage")
    return [(m.key, m.label) for m in process.manual
            if (m.stages is None or stage_key in m.stages)
            and (m.when is None or evaluate(m.when, values))]


def plan_manual(process: ProcessDef, key: str, values: dict, transition_id: str,
                now_local: dt.datetime, stage_key: str | None = None,
                context: dict | None = None) -> tuple[Effect, ...]:
    """Effects of a person's «создать на основании» `key`; refused when it does not apply.
    Persons `{chosen: role}` are the user the actor picks (the adapter asks)."""
    stage_key = stage_key or values.get("stage")
    manual = next((m for m in process.manual if m.key == key), None)
    if manual is None:
        raise TransitionNotAllowed(f"В процессе «{process.name}» нет действия «{key}»")
    if (key, manual.label) not in manual_actions(process, values, stage_key):
        raise TransitionNotAllowed(f"«{manual.label}»: сейчас недоступно для этой записи")
    render_context = _context(process, stage_key, values, context)
    out = []
    for action in manual.actions:
        effect = _resolve(action, f"{process.key}.based_on.{key}.{action.key}",
                          f"{transition_id}:based_on:{key}:{action.key}", stage_key,
                          values, None, now_local, render_context)
        if effect is not None:
            out.append(effect)
    return tuple(out)


def plan_scheduled(process: ProcessDef, effect: Effect, values: dict, now_local: dt.datetime,
                   occurrence: int = 1, stage_key: str | None = None,
                   context: dict | None = None) -> tuple[tuple[Effect, ...],
                                                         dt.datetime | None]:
    """A `schedule` or `repeat` effect fell due: the effects of its inner action (rendered
    with the record's values now) and, for `repeat`, when it is due next (None: done).
    Pass the row's due time as `now_local` to keep a weekly repeat on its weekday. A repeat
    of a record that left its stage (`stage_key` given and different) does nothing."""
    if effect.action not in ("schedule", "repeat"):
        raise ValueError(f"{effect.action}: не отложенное действие")
    if effect.action == "repeat" and stage_key is not None and stage_key != effect.stage:
        return (), None
    inner = action_from_dict(effect.params["action"])
    render_context = _context(process, effect.stage or stage_key, values, context)
    suffix = f"{occurrence}" if effect.action == "repeat" else "due"
    resolved = _resolve(inner, f"{effect.rule}/action", f"{effect.key}:{suffix}",
                        effect.stage, values, None, now_local, render_context)
    following = add_duration(now_local, effect.params["every"]) \
        if effect.action == "repeat" else None
    return ((resolved,) if resolved is not None else ()), following


def task_rule(process: ProcessDef, rule: str) -> ActionDef:
    """The create_task action behind a rule path a task keeps."""
    found = process.rules.get(rule)
    if found is None or found[1].name != "create_task":
        raise TransitionNotAllowed(f"Задача не относится к процессу «{process.name}»")
    return found[1]


def plan_outcome(process: ProcessDef, rule: str, outcome, values: dict, transition_id: str,
                 now_local: dt.datetime, comment: str | None = None,
                 stage_key: str | None = None, context: dict | None = None
                 ) -> tuple[Effect, ...]:
    """A person closed a task created by rule `rule` with `outcome` (its label, or a list
    [label, label of the second question] for outcomes with `choices`; None for a task
    without outcomes). Raises FieldErrors naming a missing comment or field; returns, in
    this order: set_field effects (set, comment_field), the outcome's actions, the task
    again (repeat), a follow-up task, the task a follow-up returns to, and move_stage last
    (the adapter applies it through the transition service, which may still refuse it).
    Effect keys are "<transition id>:<rule>:<outcome>:<what>"."""
    task = task_rule(process, rule)
    stage_key = stage_key or values.get("stage") or process.rules[rule][0]
    render_context = _context(process, stage_key, values, context)
    path = [outcome] if isinstance(outcome, str) else list(outcome or [])
    options = task.params.get("outcomes") or {}
    chosen: dict = {}
    where = rule
    label = ""
    for depth, label in enumerate(path):
        if label not in options:
            raise FieldErrors({"outcome": f"Нет варианта «{label}»; выберите: "
                               + ", ".join(options)})
        chosen = options[label] or {}
        where = f"{where}/{label}"
        options = chosen.get("choices") or {}
        if depth == len(path) - 1 and options:
            raise FieldErrors({"outcome": f"«{label}»: выберите вариант: "
                               + ", ".join(options)})
    if not path and options:
        raise FieldErrors({"outcome": "Выберите результат: " + ", ".join(options)})
    errors = {}
    if chosen.get("comment") and not (comment or "").strip():
        errors["comment"] = f"Оставьте комментарий: {chosen['comment']}"
    for name in chosen.get("fields") or ():
        if _is_empty(values.get(name)):
            errors[name] = f"Заполните поле «{process.labels.get(name, name)}»"
    if errors:
        raise FieldErrors(errors)
    prefix = f"{transition_id}:{rule}:{'/'.join(path)}"
    out: list[Effect] = []

    def add(action: ActionDef, sub_rule: str, what: str):
        effect = _resolve(action, sub_rule, f"{prefix}:{what}", stage_key, values, None,
                          now_local, render_context)
        if effect is not None:
            out.append(effect)

    for name, value in (chosen.get("set") or {}).items():
        add(ActionDef("set_field", f"set_{name}", {"field": name, "value": value}),
            f"{where}/set", f"set:{name}")
    if chosen.get("comment_field"):
        add(ActionDef("set_field", "comment", {"field": chosen["comment_field"],
                                                 "value": comment}),
            f"{where}/comment", "comment")
    for i, item in enumerate(chosen.get("actions") or ()):
        sub = action_from_dict(item, i)
        add(sub, f"{where}/{sub.key}", sub.key)
    if chosen.get("repeat"):
        add(task, rule, "repeat")
    if chosen.get("task") and f"{where}/task" in process.rules:
        add(process.rules[f"{where}/task"][1], f"{where}/task", "task")
    if rule in process.returns:
        back = process.returns[rule]
        add(process.rules[back][1], back, "return")
    if chosen.get("move"):
        add(ActionDef("move_stage", "move", {"to": chosen["move"]}), f"{where}/move", "move")
    return tuple(out)


def approval_only(process: ProcessDef, to_key: str, values: dict) -> bool:
    """Only an approval's decision moves the record to `to_key` (order «Согласовано»)."""
    try:
        rule = process.stage(to_key).approval_only
    except KeyError:
        return False
    return rule if isinstance(rule, bool) else evaluate(rule, values)


def approval_rule(process: ProcessDef, rule: str) -> ActionDef:
    """The start_approval action behind the rule path an approval keeps."""
    found = process.rules.get(rule)
    if found is None or found[1].name != "start_approval":
        raise TransitionNotAllowed(f"Согласование не относится к процессу «{process.name}»")
    return found[1]


def approval_route(process: ProcessDef, rule: str) -> dict:
    """The route a start_approval rule runs: its own steps or the definition's named one."""
    params = approval_rule(process, rule).params
    if "route" in params:
        return process.routes[params["route"]]
    return normalized({"steps": params["steps"], "rework": params.get("rework", "restart")})


def plan_approval_result(process: ProcessDef, rule: str, result: str, values: dict,
                         transition_id: str, now_local: dt.datetime,
                         stage_key: str | None = None, context: dict | None = None,
                         comment: str | None = None) -> tuple[Effect, ...]:
    """What the decision `result` (on_approved / on_rejected / on_rework) of the approval
    started by `rule` runs, in the definition's order; moves last, like every plan. A
    reason or a remark goes to the record's `comment_field` first.
    Effect keys are "<transition id>:<rule>:<result>:<action key>"."""
    action = approval_rule(process, rule)
    stage_key = stage_key or values.get("stage") or process.rules[rule][0]
    render_context = _context(process, stage_key, values, context)
    out, moves = [], []
    if comment and result != "on_approved" and action.params.get("comment_field"):
        out.append(Effect(action="set_field", key=f"{transition_id}:{rule}:{result}:comment",
                          rule=f"{rule}/{result}/comment", stage=stage_key or "",
                          params={"field": action.params["comment_field"],
                                  "value": comment}))
    for i, item in enumerate(action.params.get(result) or ()):
        sub = action_from_dict(item, i)
        effect = _resolve(sub, f"{rule}/{result}/{sub.key}",
                          f"{transition_id}:{rule}:{result}:{sub.key}", stage_key, values,
                          None, now_local, render_context)
        if effect is not None:
            (moves if effect.action == "move_stage" else out).append(effect)
    return tuple(out + moves)


def replan_dated(process: ProcessDef, stage_key: str, values: dict, old: dict,
                 entry_transition_id: str, now_local: dt.datetime,
                 context: dict | None = None) -> tuple[Effect, ...]:
    """The current stage's timed entry actions hanging on a date field that changed
    ("за 3 дня до «Срок ожидания оплаты»"), planned again with the new date. The keys are
    those the stage entry gave them, so the adapter updates the row it wrote (or writes it
    now, when the date was empty on entry). An emptied date gives an effect with no due
    time: the row is cancelled."""
    stage = process.stage(stage_key)
    render_context = _context(process, stage_key, values, context)
    out = []
    for action in stage.on_enter:
        field = action.params.get("relative_to")
        if action.name not in ("schedule", "remind", "create_task") or not field:
            continue
        if old.get(field) == values.get(field):
            continue
        effect = _resolve(action, f"{process.key}.{stage.key}.on_enter.{action.key}",
                          f"{entry_transition_id}:{stage.key}:on_enter:{action.key}",
                          stage_key, values, None, now_local, render_context)
        if effect is not None:
            out.append(effect)
    return tuple(out)
