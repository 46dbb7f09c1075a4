"""The registered actions a definition may name, each with its typed parameters.

Like pytransitions' callbacks, an action is a registered name resolved at load time; an
unknown name or a wrong parameter stops the load. `check(params, ...)` returns None when the
parameters are right, or (parameter path, Russian problem).

Actions may nest: `schedule` and `repeat` carry one action (`action: {do: ..., ...}`), a task
outcome may run a list of actions (`actions: [...]`) or ask a second question (`choices`).
Nested actions are checked exactly like the ones of a stage. The optional keyword `ctx`
(entities -> their fields, entities -> their stage keys, reference lists) lets the checks of
`create_record` and `move_record` look at another entity."""
from __future__ import annotations

import functools
import re
import string
from dataclasses import dataclass, field

from documents.fields import record_fields_in
from documents.kinds import KINDS, SHIPPED
from documents.render import shipped_template
from rules.conditions import ConditionError
from rules.conditions import validate as validate_condition
from rules.durations import DurationError, parse_duration
from rules.routes import route_problem

# Placeholders a template may use besides the record's own fields.
# `approval`: in what an approval's decision runs, {approval.comment} is the approver's
# reason or comment, {approval.title} and {approval.decided_by} the rest.
TEMPLATE_ROOTS = {"record", "responsible", "company", "contact", "stage", "actor", "now",
                  "approval"}
RESPONSIBLE_ATTRS = {"full_name", "position", "phone", "email", "first_name", "last_name"}
ASSIGNEE_KINDS = ("responsible", "actor", "role", "department_head", "user", "field",
                  "chosen")
ENTITIES = ("lead", "deal", "event", "order", "request", "task")
_TIME = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")
# Outcome keys: move the record, send the same task round again, a follow-up task that
# returns to this one, a mandatory comment (and the field it is copied to), record fields
# that must be filled, fields to set, actions to run, a second question.
OUTCOME_KEYS = ("move", "repeat", "task", "comment", "comment_field", "fields", "set",
                "actions", "choices")
# What an approval's decisions run: `on_approved`, `on_rejected`, `on_rework`.
APPROVAL_RESULTS = ("on_approved", "on_rejected", "on_rework")
_PLACEHOLDER = re.compile(r"^[a-z_][a-z0-9_]*(\.[a-z_][a-z0-9_]*)?$")


def _template_problem(text, labels) -> str | None:
    if not isinstance(text, str):
        return "ожидается строка шаблона"
    try:
        parts = list(string.Formatter().parse(text))
    except ValueError as exc:
        return f"шаблон не разбирается: {exc}"
    for _literal, name, _spec, _conv in parts:
        if name is None:
            continue
        if not _PLACEHOLDER.match(name):
            return f"неверная подстановка «{{{name}}}»"
        root = name.split(".")[0]
        if root not in TEMPLATE_ROOTS and root not in labels:
            return f"неизвестная подстановка «{{{name}}}»"
        if root == "responsible" and "." in name and name.split(".")[1] not in RESPONSIBLE_ATTRS:
            return f"неизвестная подстановка «{{{name}}}»"
    return None


def _person_problem(value, labels, roles) -> str | None:
    """responsible | actor | {role: x} | {department_head: true} | {user: login} | {field: k}
    | {chosen: role}: the actor picks a person of that role when starting a manual action."""
    if value in ("responsible", "actor"):
        return None
    if not isinstance(value, dict) or len(value) != 1:
        return ("ожидается responsible, actor или один из ключей role, department_head, "
                "user, field, chosen")
    (kind, arg), = value.items()
    if kind in ("role", "chosen"):
        return None if arg in roles else f"неизвестная роль «{arg}»"
    if kind == "department_head":
        return None
    if kind == "user":
        return None if isinstance(arg, str) and arg else "укажите логин пользователя"
    if kind == "field":
        return None if arg in labels else f"неизвестное поле «{arg}»"
    return f"неизвестный вид исполнителя «{kind}»"


def _duration_problem(value) -> str | None:
    try:
        parse_duration(value)
    except DurationError as exc:
        return str(exc)
    return None


def _interval_problem(value) -> str | None:
    """A repeat's `every`: a positive span (0, negative or «до конца дня» would make the
    repeat run again at once, forever)."""
    problem = _duration_problem(value)
    if problem:
        return problem
    duration = parse_duration(value)
    if duration.amount <= 0 or duration.unit == "end_of_day":
        return "интервал повтора должен быть больше нуля, например «1w» или «3 рабочих дня»"
    return None


@dataclass(frozen=True)
class Param:
    kind: str          # text / template / duration / person / stage / field / roles / bool /
    required: bool = False  # outcomes / list / any
    default: object = None


@dataclass(frozen=True)
class ActionSpec:
    name: str
    label: str
    params: dict[str, Param] = field(default_factory=dict)
    available: bool = True

    def check(self, params: dict, labels: dict, roles, stages,
              ctx: dict | None = None) -> tuple[str, str] | None:
        ctx = ctx or {}
        for key in params:
            if key not in self.params:
                return key, ("неизвестный параметр; допустимы: "
                             + ", ".join(sorted(self.params)))
        for key, spec in self.params.items():
            if key not in params:
                if spec.required:
                    return key, "обязательный параметр отсутствует"
                continue
            problem = _param_problem(spec.kind, params[key], labels, roles, stages, ctx)
            if isinstance(problem, tuple):
                return f"{key}.{problem[0]}" if problem[0] else key, problem[1]
            if problem:
                return key, problem
        extra = _CROSS_CHECKS.get(self.name)
        return extra(params, labels, roles, stages, ctx) if extra else None


def check_action(item, labels: dict, roles, stages, ctx: dict | None = None
                 ) -> tuple[str, str] | None:
    """One nested action `{do: name, key?, when?, ...params}`: None or (path, problem)."""
    if not isinstance(item, dict):
        return "", "действие должно быть объектом с ключом do"
    name = item.get("do")
    spec = ACTIONS.get(name) if isinstance(name, str) else None
    if spec is None:
        return "do", f"неизвестное действие «{name}»; допустимы: " + ", ".join(sorted(ACTIONS))
    if not spec.available:
        return "do", (f"действие «{name}» пока недоступно (not available yet): его сделает "
                      "следующая версия")
    if "key" in item and not (isinstance(item["key"], str) and item["key"]):
        return "key", "ожидается непустая строка"
    params = {k: v for k, v in item.items() if k not in ("do", "key", "when")}
    problem = spec.check(params, labels, roles, stages, ctx)
    if problem:
        return problem
    if item.get("when") is not None:
        try:
            validate_condition(item["when"], set(labels), "when")
        except ConditionError as exc:
            return "", str(exc)
    return None


def check_action_list(raw, labels: dict, roles, stages, ctx: dict | None = None
                      ) -> tuple[str, str] | None:
    if not isinstance(raw, list) or not raw:
        return "", "ожидается непустой список действий"
    seen = set()
    for i, item in enumerate(raw):
        problem = check_action(item, labels, roles, stages, ctx)
        if problem:
            return f"[{i}].{problem[0]}" if problem[0] else f"[{i}]", problem[1]
        key = item.get("key") or f"{item['do']}_{i + 1}"
        if key in seen:
            return f"[{i}].key", f"ключ действия «{key}» повторяется"
        seen.add(key)
    return None


def _param_problem(kind, value, labels, roles, stages, ctx=None):
    if kind == "template":
        return _template_problem(value, labels)
    if kind == "text":
        return None if isinstance(value, str) and value.strip() else "ожидается непустая строка"
    if kind == "duration":
        return _duration_problem(value)
    if kind == "interval":
        return _interval_problem(value)
    if kind == "person":
        return _person_problem(value, labels, roles)
    if kind == "people":
        if not isinstance(value, list) or not value:
            return "ожидается список получателей"
        for item in value:
            problem = _person_problem(item, labels, roles)
            if problem:
                return problem
        return None
    if kind == "stage":
        if not isinstance(value, str):
            return f"ожидается ключ этапа, а указано «{value}»"
        return None if value in stages else f"неизвестный этап «{value}»"
    if kind == "field":
        if not isinstance(value, str):
            return f"ожидается название поля, а указано «{value}»"
        return None if value in labels else f"неизвестное поле «{value}»"
    if kind == "bool":
        return None if isinstance(value, bool) else "ожидается true или false"
    if kind == "outcomes":
        return _outcomes_problem(value, labels, roles, stages, ctx)
    if kind == "list":
        return None if isinstance(value, list) else "ожидается список"
    if kind == "fields":
        if not isinstance(value, list) or not value:
            return "ожидается непустой список полей"
        for name in value:
            if not isinstance(name, str):
                return f"ожидается список названий полей, а указано «{name}»"
            if name not in labels:
                return f"неизвестное поле «{name}»"
        return None
    if kind == "time":
        return None if isinstance(value, str) and _TIME.match(value) else \
            f"ожидается время ЧЧ:ММ, а указано «{value}»"
    if kind == "entity":
        return None if value in ENTITIES else \
            f"неизвестная сущность «{value}»; допустимы: " + ", ".join(ENTITIES)
    if kind == "action":
        return check_action(value, labels, roles, stages, ctx)
    if kind == "actions":
        return check_action_list(value, labels, roles, stages, ctx)
    if kind == "dict":
        return None if isinstance(value, dict) and value else "ожидается непустой объект"
    if kind == "basis":
        return None if value == "basis" else \
            "ожидается basis (запись, на основании которой создана эта)"
    if kind == "reminder":
        return _reminder_problem(value, labels, roles)
    return None


def _reminder_problem(value, labels, roles):
    """{after: 5m, to: [people], text: template}: a 1C «Напоминание» on the created record."""
    if not isinstance(value, dict):
        return "ожидается объект after / to / text"
    for key in value:
        if key not in ("after", "to", "text"):
            return key, "неизвестный ключ; допустимы: after, text, to"
    for key in ("after", "to", "text"):
        if key not in value:
            return key, "обязательный параметр отсутствует"
    problem = _duration_problem(value["after"])
    if problem:
        return "after", problem
    if not isinstance(value["to"], list) or not value["to"]:
        return "to", "ожидается список получателей"
    for item in value["to"]:
        if item == "responsible" or (isinstance(item, dict) and "field" in item):
            continue  # a person of the created record, resolved when the reminder is due
        problem = _person_problem(item, labels, roles)
        if problem:
            return "to", problem
    problem = _template_problem(value["text"], labels)
    return ("text", problem) if problem else None


def _outcomes_problem(value, labels, roles, stages, ctx=None):
    """{label: {move: stage} | {repeat: true} | {task: {...}} | ... | {}}: each outcome may
    move the record (also back: a loop), send the task round again, ask a comment, require
    fields, set fields, run actions or ask a second question (`choices`)."""
    if not isinstance(value, dict) or not value:
        return "ожидается словарь вариантов результата"
    for label, effect in value.items():
        if effect in (None, {}):
            continue
        if not isinstance(effect, dict):
            return f"вариант «{label}»: ожидается объект (move / repeat)"
        for key, arg in effect.items():
            if key == "move" and arg not in stages:
                return f"вариант «{label}»: неизвестный этап «{arg}»"
            if key not in OUTCOME_KEYS:
                return f"вариант «{label}»: неизвестный ключ «{key}»"
            problem = _outcome_key_problem(key, arg, labels, roles, stages, ctx)
            if isinstance(problem, tuple):
                return f"вариант «{label}»: {key}{problem[0]}: {problem[1]}"
            if problem:
                return f"вариант «{label}»: {key}: {problem}"
    return None


def _outcome_key_problem(key, arg, labels, roles, stages, ctx):
    if key == "repeat":
        return None if isinstance(arg, bool) else "ожидается true или false"
    if key == "task":
        if not isinstance(arg, dict) or "title" not in arg:
            return "ожидается объект с title (и repeat: true для возврата к задаче)"
        for sub in arg:
            if sub not in ("title", "description", "repeat", "deadline", "assignee",
                           "creator"):
                return f"неизвестный ключ «{sub}»"
        problem = _template_problem(arg["title"], labels) or (
            _duration_problem(arg["deadline"]) if "deadline" in arg else None)
        for person in ("assignee", "creator"):
            if person in arg and not problem:
                problem = _person_problem(arg[person], labels, roles)
        return problem
    if key == "comment":
        return None if isinstance(arg, str) and arg.strip() else \
            "ожидается подсказка к обязательному комментарию"
    if key == "comment_field":
        return None if arg in labels else f"неизвестное поле «{arg}»"
    if key == "fields":
        return _param_problem("fields", arg, labels, roles, stages)
    if key == "set":
        if not isinstance(arg, dict) or not arg:
            return "ожидается объект поле: значение"
        for name in arg:
            if name not in labels:
                return f"неизвестное поле «{name}»"
        return None
    if key == "actions":
        problem = check_action_list(arg, labels, roles, stages, ctx)
        return (problem[0], problem[1]) if problem else None
    if key == "choices":
        problem = _outcomes_problem(arg, labels, roles, stages, ctx)
        return problem
    return None


def _timing_problem(params, labels, roles, stages, ctx):
    """`relative_to` a date field with `after` or `before`; never both."""
    if "after" in params and "before" in params:
        return "before", "укажите либо after, либо before"
    if "before" in params and "relative_to" not in params:
        return "before", "before имеет смысл только вместе с relative_to (поле-дата)"
    if "at" in params and "relative_to" not in params:
        return "at", "at имеет смысл только вместе с relative_to (поле-дата)"
    return None


def _schedule_problem(params, labels, roles, stages, ctx):
    if not any(k in params for k in ("after", "before", "relative_to")):
        return "after", "укажите after (задержка) или relative_to (поле-дата)"
    return _timing_problem(params, labels, roles, stages, ctx)


def _create_task_problem(params, labels, roles, stages, ctx):
    if "at" in params and "relative_to" not in params:
        return "at", "at имеет смысл только вместе с relative_to (поле-дата)"
    return None


def _create_record_problem(params, labels, roles, stages, ctx):
    target = params["entity"]
    fields = (ctx.get("entities") or {}).get(target)
    copy = params.get("copy")
    if copy is not None:
        pairs = copy.items() if isinstance(copy, dict) else ((n, n) for n in copy) \
            if isinstance(copy, list) else None
        if pairs is None:
            return "copy", "ожидается список полей или объект «поле новой записи: поле этой»"
        for dest, src in pairs:
            if src not in labels:
                return "copy", f"неизвестное поле «{src}»"
            if fields is not None and dest not in fields:
                return "copy", f"у сущности «{target}» нет поля «{dest}»"
    values = params.get("values") or {}
    if not isinstance(values, dict):
        return "values", "ожидается объект «поле: значение»"
    for dest, val in values.items():
        if dest == "pipeline" and target in ("deal", "lead", "request"):
            # the pipeline by its code: the record starts at its first stage
            if not isinstance(val, str) or not val:
                return "values.pipeline", "укажите код воронки"
            continue
        if fields is not None and dest not in fields:
            return "values", f"у сущности «{target}» нет поля «{dest}»"
        if isinstance(val, str):
            problem = _template_problem(val, labels)
            if problem:
                return f"values.{dest}", problem
    stages_of = (ctx.get("entity_stages") or {}).get(target)
    for column in ("stage", "state", "status"):
        state = values.get(column)
        if stages_of is not None and state is not None and state not in stages_of:
            return f"values.{column}", f"у сущности «{target}» нет этапа «{state}»"
    return None


def _move_record_problem(params, labels, roles, stages, ctx):
    stages_of = (ctx.get("entity_stages") or {}).get(params["entity"])
    if stages_of is not None and params["to"] not in stages_of:
        return "to", f"у сущности «{params['entity']}» нет этапа «{params['to']}»"
    return None




ACTIONS: dict[str, ActionSpec] = {spec.name: spec for spec in (
    # deadline counts from now, or from the date field `relative_to` (at `at` o'clock);
    # kind: the task type as the CRM shows it («Подтверждение», «Связаться с клиентом»);
    # fields: record fields the task asks for (closing it requires them filled).
    ActionSpec("create_task", "Создать задачу", {
        "title": Param("template", required=True), "description": Param("template"),
        "assignee": Param("person", default="responsible"),
        "creator": Param("person", default="actor"), "observers": Param("people"),
        "deadline": Param("duration"), "outcomes": Param("outcomes"),
        "checklist": Param("list"), "kind": Param("text"), "fields": Param("fields"),
        "relative_to": Param("field"), "at": Param("time"),
        # once: one task per record, whichever trigger comes first (a flag set at any
        # stage); keep_open: the task outlives the stage that created it.
        "once": Param("bool"), "keep_open": Param("bool")}),
    # `channel: email` with `attachments` (file fields of the record): seed 001's signed
    # акт and УПД mailed to the accountant.
    ActionSpec("notify", "Уведомить сотрудников", {
        "to": Param("people", required=True), "text": Param("template", required=True),
        "channel": Param("text"), "attachments": Param("fields")}),
    # A 1C «Напоминание»: shown to the people at the due time (after a delay or relative
    # to a date field).
    ActionSpec("remind", "Напомнить", {
        "to": Param("people", required=True), "text": Param("template", required=True),
        "after": Param("duration"), "before": Param("duration"),
        "relative_to": Param("field"), "at": Param("time")}),
    ActionSpec("send_message", "Отправить сообщение клиенту", {
        "subject": Param("template", required=True), "body": Param("template", required=True),
        "channel": Param("text"), "attachments": Param("fields")}),
    ActionSpec("set_field", "Заполнить поле", {
        "field": Param("field", required=True), "value": Param("any", required=True)}),
    ActionSpec("assign", "Назначить ответственного", {
        "role": Param("text", required=True), "strategy": Param("text")}),
    ActionSpec("move_stage", "Перевести на этап", {"to": Param("stage", required=True)}),
    # "3 days after" (after), "2 days before <date field>" (relative_to + before), at a
    # clock time for date fields; `keep: true` keeps it when the record leaves the stage.
    ActionSpec("schedule", "Выполнить позже", {
        "after": Param("duration"), "before": Param("duration"), "relative_to": Param("field"),
        "at": Param("time"), "keep": Param("bool"), "action": Param("action", required=True)}),
    ActionSpec("repeat", "Повторять, пока запись на этапе", {
        "every": Param("interval", required=True), "action": Param("action", required=True)}),
    # A record of `entity`: `copy` fields of this record (list, or {new field: this field}),
    # literal or template `values`, linked «на основании» this record unless basis: false;
    # `responsible` a person; `reminder` a 1C «Напоминание» on the new record.
    ActionSpec("create_record", "Создать запись", {
        "entity": Param("entity", required=True), "values": Param("any"),
        "copy": Param("any"), "basis": Param("bool"), "responsible": Param("person"),
        "reminder": Param("reminder")}),
    # Move the record this one was created on the basis of (if it is an `entity`) through
    # the transition service of its own process.
    ActionSpec("move_record", "Перевести связанную запись", {
        "record": Param("basis", required=True), "entity": Param("entity", required=True),
        "to": Param("text", required=True)}),
    ActionSpec("convert_lead", "Конвертировать лид", {"pipeline": Param("text")}),
    # An approval of the record: a named route of the definition (`route`) or its own
    # `steps`; `covers` the fields whose change restarts it; what the decisions do.
    ActionSpec("start_approval", "Запустить согласование", {
        "title": Param("template", required=True), "route": Param("text"),
        "steps": Param("list"), "rework": Param("text"), "covers": Param("fields"),
        "requester": Param("person"), "comment_field": Param("field"),
        **{name: Param("actions") for name in APPROVAL_RESULTS}}),
    # An approved request marks its employee away (the absence calendar, approval routes):
    # `kind` for all, or the kind by the value of the choice field `kind_field` (`kinds`).
    ActionSpec("register_absence", "Отметить отсутствие", {
        "kind": Param("text"), "kind_field": Param("field"), "kinds": Param("dict")}),
    # A numbered document of the record (documents/kinds.py) rendered after commit by the
    # documents worker; `send_to: client` e-mails it to the client once it is ready.
    ActionSpec("generate_document", "Сформировать документ", {
        "kind": Param("text", required=True), "template": Param("text"),
        "send_to": Param("text")}),
)}

# What every template may print of a record besides its fields (process/document_context.py).
DOCUMENT_RECORD_EXTRAS = frozenset({
    "id", "title", "number", "responsible", "responsible_phone", "responsible_email",
    "responsible_position", "currency", "budget", "delivery_address", "ship_date",
    "payment_terms", "comment"})
SEND_TO = ("client",)


@functools.cache
def shipped_template_fields() -> dict[str, tuple[str, frozenset[str]]]:
    """Each shipped template's kind and the record fields it prints."""
    return {key: (t.kind, record_fields_in(shipped_template(key))) for key, t in SHIPPED.items()}


def _generate_document_problem(params, labels, _roles, _stages, ctx):
    kind = KINDS.get(params["kind"])
    if kind is None:
        return "kind", (f"неизвестный вид документа «{params['kind']}»; допустимы: "
                        + ", ".join(KINDS))
    entity = (ctx or {}).get("entity")
    if entity and entity not in kind.entities:
        return "kind", f"«{kind.title}» не формируется для записей «{entity}»"
    # The shipped templates; the catalog adds the admin's own (and their versions of these).
    templates = dict(shipped_template_fields())
    templates.update((ctx or {}).get("document_templates") or {})
    key = params.get("template") or kind.key
    if key not in templates:
        return "template", f"неизвестный шаблон «{key}»"
    template_kind, used = templates[key]
    if template_kind != kind.key:
        return "template", f"шаблон «{key}» — для другого вида документа"
    unknown = sorted(used - set(labels) - DOCUMENT_RECORD_EXTRAS)
    if unknown:
        return "template", ("шаблон печатает поля, которых нет у записи: "
                            + ", ".join(unknown))
    if params.get("send_to") not in (None, *SEND_TO):
        return "send_to", "допустимо только client (e-mail клиента)"
    return None


def _start_approval_problem(params, labels, roles, stages, ctx):
    if ("route" in params) == ("steps" in params):
        return "route", "укажите либо route (маршрут определения), либо steps (свои шаги)"
    if "route" in params:
        if "rework" in params:
            return "rework", "rework задаётся в самом маршруте"
        known = (ctx or {}).get("routes") or {}
        if params["route"] not in known:
            return "route", (f"неизвестный маршрут «{params['route']}»; в определении есть: "
                             + (", ".join(sorted(known)) or "ни одного"))
        return None
    route = {"steps": params["steps"]}
    if "rework" in params:
        route["rework"] = params["rework"]
    return route_problem(route, labels, roles)


ABSENCE_KINDS = ("vacation", "unpaid", "sick", "remote", "day_off")


def _register_absence_problem(params, labels, roles, stages, ctx):
    if ("kind" in params) == ("kind_field" in params):
        return "kind", "укажите либо kind, либо kind_field с kinds"
    if "kind" in params:
        return None if params["kind"] in ABSENCE_KINDS else \
            ("kind", "неизвестный вид отсутствия; допустимы: " + ", ".join(ABSENCE_KINDS))
    kinds = params.get("kinds")
    if not isinstance(kinds, dict) or not kinds:
        return "kinds", "ожидается объект «значение поля: вид отсутствия»"
    for value, kind in kinds.items():
        if kind not in ABSENCE_KINDS:
            return f"kinds.{value}", ("неизвестный вид отсутствия; допустимы: "
                                      + ", ".join(ABSENCE_KINDS))
    return None


def _notify_problem(params, _labels, _roles, _stages, _ctx):
    if params.get("attachments") and params.get("channel") != "email":
        return "attachments", "файлы прикладываются только к письму: укажите channel: email"
    return None


_CROSS_CHECKS = {
    "notify": _notify_problem,
    "generate_document": _generate_document_problem,
    "register_absence": _register_absence_problem,
    "start_approval": _start_approval_problem,
    "schedule": _schedule_problem,
    "remind": _timing_problem,
    "create_task": _create_task_problem,
    "create_record": _create_record_problem,
    "move_record": _move_record_problem,
}
