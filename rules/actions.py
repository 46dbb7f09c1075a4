"""The registered actions a definition may name, each with its typed parameters.

Like pytransitions' callbacks, an action is a registered name resolved at load time; an
unknown name or a wrong parameter stops the load. `check(params, ...)` returns None when the
parameters are right, or (parameter path, Russian problem)."""
from __future__ import annotations

import re
import string
from dataclasses import dataclass, field

from rules.durations import DurationError, parse_duration

# Placeholders a template may use besides the record's own fields.
TEMPLATE_ROOTS = {"record", "responsible", "company", "contact", "stage", "actor", "now"}
RESPONSIBLE_ATTRS = {"full_name", "position", "phone", "email", "first_name", "last_name"}
ASSIGNEE_KINDS = ("responsible", "actor", "role", "department_head", "user", "field")
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
    """responsible | actor | {role: x} | {department_head: true} | {user: login} | {field: k}"""
    if value in ("responsible", "actor"):
        return None
    if not isinstance(value, dict) or len(value) != 1:
        return ("ожидается responsible, actor или один из ключей role, department_head, "
                "user, field")
    (kind, arg), = value.items()
    if kind == "role":
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

    def check(self, params: dict, labels: dict, roles, stages) -> tuple[str, str] | None:
        for key in params:
            if key not in self.params:
                return key, ("неизвестный параметр; допустимы: "
                             + ", ".join(sorted(self.params)))
        for key, spec in self.params.items():
            if key not in params:
                if spec.required:
                    return key, "обязательный параметр отсутствует"
                continue
            problem = _param_problem(spec.kind, params[key], labels, roles, stages)
            if problem:
                return key, problem
        return None


def _param_problem(kind, value, labels, roles, stages) -> str | None:
    if kind == "template":
        return _template_problem(value, labels)
    if kind == "text":
        return None if isinstance(value, str) and value.strip() else "ожидается непустая строка"
    if kind == "duration":
        return _duration_problem(value)
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
        return None if value in stages else f"неизвестный этап «{value}»"
    if kind == "field":
        return None if value in labels else f"неизвестное поле «{value}»"
    if kind == "bool":
        return None if isinstance(value, bool) else "ожидается true или false"
    if kind == "outcomes":
        return _outcomes_problem(value, stages)
    if kind == "list":
        return None if isinstance(value, list) else "ожидается список"
    return None


def _outcomes_problem(value, stages) -> str | None:
    """{label: {move: stage} | {repeat: true} | {} } — each outcome may move the record or
    send the task round again (a loop, e.g. "КП не согласовано")."""
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
            if key not in ("move", "repeat", "task"):
                return f"вариант «{label}»: неизвестный ключ «{key}»"
    return None


ACTIONS: dict[str, ActionSpec] = {spec.name: spec for spec in (
    ActionSpec("create_task", "Создать задачу", {
        "title": Param("template", required=True), "description": Param("template"),
        "assignee": Param("person", default="responsible"),
        "creator": Param("person", default="actor"), "observers": Param("people"),
        "deadline": Param("duration"), "outcomes": Param("outcomes"),
        "checklist": Param("list")}),
    ActionSpec("notify", "Уведомить сотрудников", {
        "to": Param("people", required=True), "text": Param("template", required=True)}),
    ActionSpec("send_message", "Отправить сообщение клиенту", {
        "subject": Param("template", required=True), "body": Param("template", required=True),
        "channel": Param("text")}),
    ActionSpec("set_field", "Заполнить поле", {
        "field": Param("field", required=True), "value": Param("any", required=True)}),
    ActionSpec("assign", "Назначить ответственного", {
        "role": Param("text", required=True), "strategy": Param("text")}),
    ActionSpec("move_stage", "Перевести на этап", {"to": Param("stage", required=True)}),
    ActionSpec("schedule", "Выполнить позже", {
        "after": Param("duration"), "relative_to": Param("field"),
        "action": Param("any", required=True)}),
    ActionSpec("repeat", "Повторять, пока запись на этапе", {
        "every": Param("duration", required=True), "action": Param("any", required=True)}),
    ActionSpec("create_record", "Создать запись", {
        "entity": Param("text", required=True), "values": Param("any")}),
    ActionSpec("convert_lead", "Конвертировать лид", {"pipeline": Param("text")}),
    ActionSpec("start_approval", "Запустить согласование", {"approvers": Param("people")},
               available=False),
    ActionSpec("generate_document", "Сформировать документ", {"template": Param("text")},
               available=False),
)}
