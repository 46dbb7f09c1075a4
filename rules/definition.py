"""Process definitions: the YAML schema, its validation and the loaded, immutable form.

A definition is data. Loading checks every name it uses against what exists (the entity's
fields, roles, reference lists, registered actions) and stops at the first problem with one
sentence naming the file, the path inside it and the problem. Pure: the adapter passes in
what exists as a `Catalog`; nothing here touches Flask or the database.

Besides its stages a definition may say, at the top level:
- `required` / `required_if` / `readonly` / `readonly_if`: the same as on a stage, but for
  every stage (the 1C documents: the fields of a document whatever its state);
- `on_change`: triggers on a field change of a record that stays in its stage
  (`{key, fields: [...], when?, stages?, actions: [...]}`), planned by
  `rules.engine.plan_field_change`;
- `based_on`: what a person may create by hand «на основании» the record
  (`{key, label, when?, stages?, actions: [...]}`), planned by `rules.engine.plan_manual`.
Every action, also a nested one, has a rule path (`ProcessDef.rules`): a task created by
the engine keeps it, and `rules.engine.plan_outcome` finds the task's outcomes by it."""
from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from errors import DefinitionError
from documents.kinds import KINDS
from rules.actions import ACTIONS, APPROVAL_RESULTS, ActionSpec
from rules.conditions import ConditionError, validate as validate_condition
from rules.durations import DurationError, parse_duration
from rules.routes import normalized, route_problem

ENTITIES = ("lead", "deal", "event", "order", "request")
TOP_KEYS = {"key", "name", "entity", "fields", "stages", "lost_reason_list", "description",
            "required", "required_if", "readonly", "readonly_if", "on_change", "based_on",
            "routes"}
STAGE_KINDS = ("open", "won", "lost")
FIELD_TYPES = ("string", "text", "integer", "money", "percent", "date", "datetime", "bool",
               "choice", "user", "contact", "file")
_KEY = re.compile(r"^[a-z][a-z0-9_]*$")
_COLOR = re.compile(r"^#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6})$")
# Far above what an office process needs, low enough that installing a definition and
# drawing its diagram stay fast (an 8 000-stage file took 79 s to install). Actions are
# counted wherever they are nested: stages, outcomes, schedules, on_change, based_on.
MAX_STAGES = 100
MAX_FIELDS = 200
MAX_ACTIONS = 500
# The YAML itself, counted as if every alias (*ref) were written out in full: a few hundred
# bytes of nested aliases would otherwise become gigabytes in every record they reach.
MAX_DEPTH = 40
MAX_EXPANDED_NODES = 100_000
MAX_EXPANDED_CHARS = 1_000_000


@dataclass(frozen=True)
class Catalog:
    """What a definition may refer to: supplied by the application."""

    entity_fields: dict[str, dict[str, str]]   # entity -> {field key: Russian label}
    roles: frozenset[str] = frozenset()
    reference_lists: frozenset[str] = frozenset()
    # entity -> its stage keys where a column is the stage (event: state, order: status);
    # lets create_record / move_record of another entity be checked at load time.
    entity_stages: dict[str, frozenset[str]] = field(default_factory=dict)
    # Named approval routes every definition may start: the shared route files
    # (`load_routes`); `parse` adds the definition's own.
    routes: dict[str, dict] = field(default_factory=dict)
    # Document templates a definition may name: key -> (kind, the record fields the
    # template prints). Empty: the shipped ones only, each keyed by its kind.
    document_templates: dict[str, tuple[str, frozenset[str]]] = field(default_factory=dict)
    # The entity of the definition being parsed (`parse` sets it).
    entity: str = ""


@dataclass(frozen=True)
class FieldDef:
    key: str
    label: str
    type: str
    list: str | None = None
    allow_other: bool = False
    # A file field left empty counts as filled by any file on the record's «Файлы» tab
    # («приложенный файл обязателен»), unless `any_file: false`: a signed акт is that
    # very file, not whatever else the record holds.
    any_file: bool = True
    # A file field a generated document of this kind fills (seed 003: the contract made
    # from the template is the deal's «Договор»).
    document: str | None = None
    # A yes/no or date field set when an invoice of this kind is paid (seed 003: «Счет
    # оплачен» and «Дата оплаты», by hand or by the bank's notification).
    paid: str | None = None


@dataclass(frozen=True)
class ActionDef:
    name: str
    key: str
    params: dict[str, Any]
    when: dict | None = None


_ESCALATE_KINDS = {"role", "user", "department_head"}


@dataclass(frozen=True)
class StageDef:
    key: str
    name: str
    kind: str
    order: int
    color: str | None = None
    deadline: str | None = None
    # Who is told when the deadline passes, besides the responsible and their department
    # head (the seed's «оповещение в случае задержки»): person specs, e.g. {role: sales_head}.
    escalate_to: tuple = ()
    required: tuple[str, ...] = ()
    # Fields required only under a condition: ((fields, condition), ...)
    required_if: tuple[tuple[tuple[str, ...], dict], ...] = ()
    # Amounts that must be filled and above zero (a budget of 0 is no budget).
    required_positive: tuple[str, ...] = ()
    readonly: tuple[str, ...] = ()
    moves: tuple[str, ...] | None = None      # None: any stage of the process
    on_enter: tuple[ActionDef, ...] = ()
    on_leave: tuple[ActionDef, ...] = ()
    readonly_if: tuple[tuple[tuple[str, ...], dict], ...] = ()
    # A stage beside the line (Отложенные): moving there does not pass the stages before
    # it, so it asks only for its own required fields.
    aside: bool = False
    # Roles that may see the record and move it on while it is at this stage, beside the
    # row rules (seed 004: the constructor at «Раскрой», the production head in the shop).
    participants: tuple[str, ...] = ()
    # Only an approval's decision moves a record here (order «Согласовано»): true, or a
    # condition on the record (the event «согласовать заказ» among other events).
    approval_only: bool | dict = False
    # Only the process moves a record here (a task's outcome, a decision, a job), never a
    # person by hand: «Оплачено» is the accountant's outcome of «Оплатить заявку».
    by_process: bool = False
    # Registered checks the record must pass to enter (CHECKS; process/checks.py runs them).
    checks: tuple[str, ...] = ()


# Checks a stage may name, resolved at load like actions: name -> what it checks.
CHECKS = {"leave_balance": "хватает ли дней отпуска (для вида «Отпуск»)"}


@dataclass(frozen=True)
class TriggerDef:
    """`on_change`: when one of `fields` changed (and `when` holds, and the record is in one
    of `stages` if given), run `actions`."""

    key: str
    fields: tuple[str, ...]
    actions: tuple[ActionDef, ...]
    when: dict | None = None
    stages: tuple[str, ...] | None = None


@dataclass(frozen=True)
class ManualDef:
    """`based_on`: a person creates something «на основании» the record."""

    key: str
    label: str
    actions: tuple[ActionDef, ...]
    when: dict | None = None
    stages: tuple[str, ...] | None = None


@dataclass(frozen=True)
class ProcessDef:
    key: str
    name: str
    entity: str
    stages: tuple[StageDef, ...]
    fields: tuple[FieldDef, ...] = ()
    lost_reason_list: str | None = None
    source: str = ""
    labels: dict[str, str] = field(default_factory=dict)  # every field key -> Russian label
    required: tuple[str, ...] = ()                 # in every stage
    required_if: tuple[tuple[tuple[str, ...], dict], ...] = ()
    readonly: tuple[str, ...] = ()
    readonly_if: tuple[tuple[tuple[str, ...], dict], ...] = ()
    triggers: tuple[TriggerDef, ...] = ()
    manual: tuple[ManualDef, ...] = ()
    # rule path -> (stage key or None, the action): every action, nested ones included
    rules: dict[str, tuple[str | None, ActionDef]] = field(default_factory=dict)
    # rule of a follow-up task ("Отработать возражение") -> rule of the task it returns to
    returns: dict[str, str] = field(default_factory=dict)
    # named approval routes: name -> {steps, rework} (rules/routes.py)
    routes: dict[str, dict] = field(default_factory=dict)

    def stage(self, key: str) -> StageDef:
        for stage in self.stages:
            if stage.key == key:
                return stage
        raise KeyError(key)

    @property
    def first_stage(self) -> StageDef:
        return self.stages[0]

    def happy_path(self) -> list[str]:
        return [s.key for s in self.stages if s.kind != "lost"]


class _Check:
    """Collects the context (file, path) for one sentence per problem."""

    def __init__(self, source: str):
        self.source = source

    def fail(self, path: str, problem: str):
        raise DefinitionError(f"{self.source}: {path}: {problem}")

    def require(self, data: dict, key: str, path: str, kind=str):
        if key not in data or data[key] in (None, ""):
            self.fail(f"{path}.{key}" if path else key, "обязательный ключ отсутствует")
        value = data[key]
        if kind is not None and not isinstance(value, kind):
            self.fail(f"{path}.{key}" if path else key,
                      f"ожидается {_KIND_NAMES.get(kind, kind)}, а указано «{value}»")
        return value

    def known_keys(self, data: dict, allowed: set[str], path: str):
        for key in data:
            if key not in allowed:
                self.fail(f"{path}.{key}" if path else str(key),
                          "неизвестный ключ; допустимы: " + ", ".join(sorted(allowed)))


_KIND_NAMES = {str: "строка", list: "список", dict: "объект", int: "целое число", bool: "да/нет"}


def load_file(path: Path, catalog: Catalog) -> ProcessDef:
    path = Path(path)
    return parse(load_yaml(path.read_text(encoding="utf-8"), path.name), catalog, path.name)


# --- the YAML of a definition, within limits -------------------------------------------

class _TooDeep(yaml.YAMLError):
    def __init__(self, mark):
        super().__init__()
        self.problem_mark = mark


class _DepthLimitedLoader(yaml.SafeLoader):
    """PyYAML's safe loader; its composer recurses once per nesting level, so a file of
    «[[[[…» would end in RecursionError: it stops at MAX_DEPTH instead."""

    def __init__(self, stream):
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent, index):
        if self._depth >= MAX_DEPTH:
            raise _TooDeep(self.peek_event().start_mark)
        self._depth += 1
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def load_yaml(text: str, source: str):
    """The data of a definition's YAML text, or DefinitionError naming the file: not YAML,
    nested deeper than MAX_DEPTH, or bigger than the budget once aliases are expanded."""
    loader = _DepthLimitedLoader(text)
    try:
        node = loader.get_single_node()
        if node is not None and _expanded_too_big(node):
            raise DefinitionError(
                f"{source}: файл: после раскрытия ссылок YAML (&якорь, *ссылка) определение "
                f"слишком большое или вложено глубже {MAX_DEPTH} уровней (допустимо "
                f"{MAX_EXPANDED_NODES} значений, {MAX_EXPANDED_CHARS} символов)")
        return loader.construct_document(node) if node is not None else None
    except _TooDeep as exc:
        raise DefinitionError(f"{source}: строка {exc.problem_mark.line + 1}: вложенность "
                              f"глубже {MAX_DEPTH} уровней") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"строка {mark.line + 1}" if mark else "файл"
        raise DefinitionError(f"{source}: {where}: не разбирается как YAML") from exc
    finally:
        loader.dispose()


def _expanded_too_big(root) -> bool:
    """Measures the node graph as the data it becomes: an alias shares its anchor's node,
    so each node is measured once (document order puts an anchor before its aliases) and
    the recursion is as deep as the file's own nesting. A node inside itself never ends."""
    sizes: dict[int, tuple[int, int, int]] = {}   # id -> (nodes, characters, depth)
    open_nodes: set[int] = set()

    def measure(node) -> tuple[int, int, int]:
        key = id(node)
        if key in sizes:
            return sizes[key]
        if key in open_nodes:
            raise OverflowError
        if isinstance(node, yaml.ScalarNode):
            sizes[key] = (1, len(node.value), 1)
            return sizes[key]
        open_nodes.add(key)
        children = node.value if isinstance(node, yaml.SequenceNode) \
            else [part for pair in node.value for part in pair]
        nodes, chars, depth = 1, 0, 0
        for child in children:
            n, c, d = measure(child)
            nodes, chars, depth = nodes + n, chars + c, max(depth, d)
            if nodes > MAX_EXPANDED_NODES or chars > MAX_EXPANDED_CHARS:
                raise OverflowError
        open_nodes.discard(key)
        sizes[key] = (nodes, chars, depth + 1)
        return sizes[key]

    try:
        _nodes, _chars, depth = measure(root)
    except OverflowError:
        return True
    return depth > MAX_DEPTH


def parse(data, catalog: Catalog, source: str = "definition") -> ProcessDef:
    check = _Check(source)
    if not isinstance(data, dict):
        check.fail("(корень)", "определение процесса должно быть объектом YAML")
    check.known_keys(data, TOP_KEYS, "")
    _check_limits(data, check)
    key = check.require(data, "key", "")
    if not _KEY.match(key):
        check.fail("key", f"«{key}»: только строчные латинские буквы, цифры и _")
    name = check.require(data, "name", "")
    entity = check.require(data, "entity", "")
    if entity not in ENTITIES:
        check.fail("entity", f"неизвестная сущность «{entity}»; допустимы: "
                   + ", ".join(ENTITIES))
    base_fields = dict(catalog.entity_fields.get(entity, {}))
    fields = _fields(data.get("fields") or [], check, catalog, set(base_fields))
    labels = {**base_fields, **{f.key: f.label for f in fields}}
    lost_list = data.get("lost_reason_list")
    if lost_list is not None and lost_list not in catalog.reference_lists:
        check.fail("lost_reason_list", f"неизвестный справочник «{lost_list}»")
    own = _routes(data.get("routes"), check, catalog, labels)
    # the shared routes (their own YAML files) first; the definition's own name wins
    routes = {**catalog.routes, **own}
    catalog = replace(catalog, routes=routes, entity=entity)
    stages = _stages(check.require(data, "stages", "", list), check, catalog, labels)
    _reachability(stages, check)
    stage_keys = [s.key for s in stages]
    for list_key in ("required", "readonly"):
        raw = data.get(list_key) or []
        if not isinstance(raw, list):
            check.fail(list_key, "ожидается список полей")
        for name_ in raw:
            if name_ not in labels:
                check.fail(list_key, f"неизвестное поле «{name_}»")
    required_if = _conditional_fields(data.get("required_if"), "required_if", check, labels)
    readonly_if = _conditional_fields(data.get("readonly_if"), "readonly_if", check, labels)
    triggers = _triggers(data.get("on_change"), check, catalog, labels, stage_keys)
    manual = _manual(data.get("based_on"), check, catalog, labels, stage_keys)
    process = ProcessDef(key=key, name=name, entity=entity, stages=tuple(stages),
                         fields=tuple(fields), lost_reason_list=lost_list, source=source,
                         labels=labels, required=tuple(data.get("required") or ()),
                         required_if=required_if, readonly=tuple(data.get("readonly") or ()),
                         readonly_if=readonly_if, triggers=triggers, manual=manual,
                         routes={name: normalized(r) for name, r in routes.items()})
    _register_rules(process)
    return process


def _check_limits(data: dict, check: _Check) -> None:
    """Before anything is validated: the size of the work it would take."""
    for key, limit, what in (("stages", MAX_STAGES, "этапов"), ("fields", MAX_FIELDS, "полей")):
        items = data.get(key)
        if isinstance(items, list) and len(items) > limit:
            check.fail(key, f"{what} {len(items)}, а допустимо не больше {limit}")
    actions = _count_actions(data, MAX_ACTIONS)
    if actions > MAX_ACTIONS:
        check.fail("(корень)", f"действий (do: ...) больше {MAX_ACTIONS}; разделите процесс "
                   "или упростите правила")


def _count_actions(data, limit: int) -> int:
    """Objects with `do:` anywhere in the definition, counted up to limit + 1."""
    count, todo = 0, [data]
    while todo and count <= limit:
        value = todo.pop()
        if isinstance(value, dict):
            count += "do" in value
            todo.extend(value.values())
        elif isinstance(value, list):
            todo.extend(value)
    return count


def action_from_dict(item: dict, index: int = 0) -> ActionDef:
    """A nested action (`schedule.action`, outcome `actions`) as an ActionDef."""
    name = item["do"]
    return ActionDef(name=name, key=item.get("key") or f"{name}_{index + 1}",
                     params={k: v for k, v in item.items() if k not in ("do", "key", "when")},
                     when=item.get("when"))


def _register_rules(process: ProcessDef) -> None:
    """Fills `process.rules` and `process.returns` with every action's rule path."""
    rules, returns = process.rules, process.returns

    def walk(rule: str, stage: str | None, action: ActionDef):
        rules[rule] = (stage, action)
        inner = action.params.get("action")
        if action.name in ("schedule", "repeat") and isinstance(inner, dict):
            walk(f"{rule}/action", stage, action_from_dict(inner))
        outcomes(rule, stage, action, action.params.get("outcomes") or {})
        if action.name == "start_approval":
            for result in APPROVAL_RESULTS:
                for i, item in enumerate(action.params.get(result) or ()):
                    sub = action_from_dict(item, i)
                    walk(f"{rule}/{result}/{sub.key}", stage, sub)

    def outcomes(rule, stage, task: ActionDef, raw: dict):
        for label, effect in raw.items():
            effect = effect or {}
            for i, item in enumerate(effect.get("actions") or []):
                sub = action_from_dict(item, i)
                walk(f"{rule}/{label}/{sub.key}", stage, sub)
            follow = effect.get("task")
            if follow:
                # A follow-up is a task of its own: its people and deadline are the ones
                # it declares (or create_task's defaults), never the task it follows.
                params = {k: v for k, v in follow.items() if k != "repeat"}
                rules[f"{rule}/{label}/task"] = (stage, ActionDef("create_task", "task",
                                                                  params))
                if follow.get("repeat"):
                    returns[f"{rule}/{label}/task"] = rule
            if effect.get("choices"):
                outcomes(f"{rule}/{label}", stage, task, effect["choices"])

    for stage in process.stages:
        for on in ("on_enter", "on_leave"):
            for action in getattr(stage, on):
                walk(f"{process.key}.{stage.key}.{on}.{action.key}", stage.key, action)
    for trigger in process.triggers:
        for action in trigger.actions:
            walk(f"{process.key}.on_change.{trigger.key}.{action.key}", None, action)
    for manual in process.manual:
        for action in manual.actions:
            walk(f"{process.key}.based_on.{manual.key}.{action.key}", None, action)


def _conditional_fields(raw, path: str, check: _Check, labels: dict):
    out = []
    if raw is None:
        return ()
    if not isinstance(raw, list):
        check.fail(path, "ожидается список правил fields / when")
    for j, rule in enumerate(raw):
        where = f"{path}[{j}]"
        if not isinstance(rule, dict) or set(rule) != {"fields", "when"}:
            check.fail(where, "нужны ровно два ключа: fields и when")
        if not isinstance(rule["fields"], list) or not rule["fields"]:
            check.fail(f"{where}.fields", "ожидается непустой список полей")
        for name in rule["fields"]:
            if name not in labels:
                check.fail(f"{where}.fields", f"неизвестное поле «{name}»")
        try:
            validate_condition(rule["when"], set(labels), f"{where}.when")
        except ConditionError as exc:
            raise DefinitionError(f"{check.source}: {exc}") from exc
        out.append((tuple(rule["fields"]), rule["when"]))
    return tuple(out)


def _stage_filter(item: dict, where: str, check: _Check, stage_keys: list[str]):
    stages = item.get("stages")
    if stages is None:
        return None
    if not isinstance(stages, list) or not stages:
        check.fail(f"{where}.stages", "ожидается непустой список этапов")
    for target in stages:
        if target not in stage_keys:
            check.fail(f"{where}.stages", f"неизвестный этап «{target}»")
    return tuple(stages)


def _when(item: dict, where: str, check: _Check, labels: dict):
    when = item.get("when")
    if when is not None:
        try:
            validate_condition(when, set(labels), f"{where}.when")
        except ConditionError as exc:
            raise DefinitionError(f"{check.source}: {exc}") from exc
    return when


def _keyed_items(raw, path: str, check: _Check, allowed: set[str]):
    if raw is None:
        return []
    if not isinstance(raw, list):
        check.fail(path, "ожидается список")
    seen = set()
    for i, item in enumerate(raw):
        if not isinstance(item, dict):
            check.fail(f"{path}[{i}]", "ожидается объект")
        check.known_keys(item, allowed, f"{path}[{i}]")
        key = check.require(item, "key", f"{path}[{i}]")
        if not _KEY.match(key):
            check.fail(f"{path}[{i}].key", f"«{key}»: только строчные латинские буквы, цифры и _")
        if key in seen:
            check.fail(f"{path}[{i}].key", f"ключ «{key}» повторяется")
        seen.add(key)
    return raw


def _triggers(raw, check, catalog, labels, stage_keys) -> tuple[TriggerDef, ...]:
    out = []
    for item in _keyed_items(raw, "on_change", check,
                             {"key", "fields", "when", "stages", "actions"}):
        where = f"on_change.{item['key']}"
        fields = check.require(item, "fields", where, list)
        for name in fields:
            if name not in labels:
                check.fail(f"{where}.fields", f"неизвестное поле «{name}»")
        actions = check.require(item, "actions", where, list)
        out.append(TriggerDef(
            key=item["key"], fields=tuple(fields), when=_when(item, where, check, labels),
            stages=_stage_filter(item, where, check, stage_keys),
            actions=_actions(actions, f"{where}.actions", check, catalog, labels, stage_keys)))
    return tuple(out)


def _manual(raw, check, catalog, labels, stage_keys) -> tuple[ManualDef, ...]:
    out = []
    for item in _keyed_items(raw, "based_on", check,
                             {"key", "label", "when", "stages", "actions"}):
        where = f"based_on.{item['key']}"
        actions = check.require(item, "actions", where, list)
        out.append(ManualDef(
            key=item["key"], label=check.require(item, "label", where),
            when=_when(item, where, check, labels),
            stages=_stage_filter(item, where, check, stage_keys),
            actions=_actions(actions, f"{where}.actions", check, catalog, labels, stage_keys)))
    return tuple(out)


def _fields(raw, check: _Check, catalog: Catalog, base: set[str]) -> list[FieldDef]:
    if not isinstance(raw, list):
        check.fail("fields", "ожидается список полей")
    out, seen = [], set()
    for i, item in enumerate(raw):
        path = f"fields[{i}]"
        if not isinstance(item, dict):
            check.fail(path, "поле должно быть объектом")
        check.known_keys(item, {"key", "label", "type", "list", "allow_other", "any_file",
                                "document", "paid"}, path)
        key = check.require(item, "key", path)
        if not _KEY.match(key):
            check.fail(f"{path}.key", f"«{key}»: только строчные латинские буквы, цифры и _")
        if key in seen or key in base:
            check.fail(f"{path}.key", f"поле «{key}» уже есть")
        seen.add(key)
        ftype = check.require(item, "type", path)
        if ftype not in FIELD_TYPES:
            check.fail(f"{path}.type", f"неизвестный тип «{ftype}»; допустимы: "
                       + ", ".join(FIELD_TYPES))
        ref = item.get("list")
        if ftype == "choice":
            if not ref:
                check.fail(f"{path}.list", "для типа choice укажите справочник")
            if ref not in catalog.reference_lists:
                check.fail(f"{path}.list", f"неизвестный справочник «{ref}»")
        for option in ("any_file", "document"):
            if option in item and ftype != "file":
                check.fail(f"{path}.{option}", "только для полей типа file")
        if "document" in item and item["document"] not in KINDS:
            check.fail(f"{path}.document", f"неизвестный вид документа «{item['document']}»")
        if "paid" in item and (ftype not in ("bool", "date")
                               or item["paid"] not in ("invoice", "invoice_contract")):
            check.fail(f"{path}.paid", "только для полей типа bool или date и для "
                       "invoice или invoice_contract")
        out.append(FieldDef(key=key, label=check.require(item, "label", path), type=ftype,
                            list=ref, allow_other=bool(item.get("allow_other")),
                            any_file=bool(item.get("any_file", True)),
                            document=item.get("document"), paid=item.get("paid")))
    return out


def _stages(raw: list, check: _Check, catalog: Catalog, labels: dict) -> list[StageDef]:
    if not raw:
        check.fail("stages", "нужен хотя бы один этап")
    keys = []
    for i, item in enumerate(raw):
        if not isinstance(item, dict):
            check.fail(f"stages[{i}]", "этап должен быть объектом")
        keys.append(check.require(item, "key", f"stages[{i}]"))
    if len(set(keys)) != len(keys):
        dup = next(k for k in keys if keys.count(k) > 1)
        check.fail("stages", f"этап «{dup}» указан дважды")
    out = []
    for i, item in enumerate(raw):
        path = f"stages.{item['key']}"
        check.known_keys(item, {"key", "name", "kind", "color", "deadline", "required",
                                "required_if", "required_positive", "readonly", "readonly_if",
                                "moves", "on_enter", "on_leave", "escalate_to", "aside",
                                "participants", "approval_only", "checks", "by_process"},
                          path)
        if not _KEY.match(item["key"]):
            check.fail(f"{path}.key", "только строчные латинские буквы, цифры и _")
        color = item.get("color")
        if color is not None and not (isinstance(color, str) and _COLOR.match(color)):
            # It lands in a style attribute of the stage buttons and the diagram.
            check.fail(f"{path}.color", f"«{color}»: цвет записывается как #rgb или #rrggbb, "
                       "например #39a8ef")
        kind = item.get("kind", "open")
        if kind not in STAGE_KINDS:
            check.fail(f"{path}.kind", f"неизвестный вид этапа «{kind}»; допустимы: "
                       + ", ".join(STAGE_KINDS))
        deadline = item.get("deadline")
        if deadline is not None:
            try:
                parse_duration(deadline)
            except DurationError as exc:
                check.fail(f"{path}.deadline", str(exc))
        escalate_to = item.get("escalate_to") or []
        if not isinstance(escalate_to, list) or not all(
                spec in ("responsible", "actor") or (isinstance(spec, dict) and len(spec) == 1
                                                     and set(spec) <= _ESCALATE_KINDS)
                for spec in escalate_to):
            check.fail(f"{path}.escalate_to", "список получателей: responsible, {role: …}, "
                       "{user: …} или {department_head: …}")
        if escalate_to and deadline is None:
            check.fail(f"{path}.escalate_to", "оповещение о задержке требует срока этапа "
                       "(deadline)")
        for list_key in ("required", "required_positive", "readonly"):
            for name in item.get(list_key) or []:
                if name not in labels:
                    check.fail(f"{path}.{list_key}", f"неизвестное поле «{name}»")
        required_if = []
        for j, rule in enumerate(item.get("required_if") or []):
            where = f"{path}.required_if[{j}]"
            if not isinstance(rule, dict) or set(rule) != {"fields", "when"}:
                check.fail(where, "нужны ровно два ключа: fields и when")
            for name in rule["fields"]:
                if name not in labels:
                    check.fail(f"{where}.fields", f"неизвестное поле «{name}»")
            try:
                validate_condition(rule["when"], set(labels), f"{where}.when")
            except ConditionError as exc:
                raise DefinitionError(f"{check.source}: {exc}") from exc
            required_if.append((tuple(rule["fields"]), rule["when"]))
        moves = item.get("moves")
        if moves is not None:
            for target in moves:
                if target not in keys:
                    check.fail(f"{path}.moves", f"неизвестный этап «{target}»")
        if not isinstance(item.get("aside", False), bool):
            check.fail(f"{path}.aside", "нужно true или false")
        participants = _participants(item.get("participants"), f"{path}.participants",
                                     check, catalog)
        approval_only = item.get("approval_only", False)
        if not isinstance(approval_only, bool):
            try:
                validate_condition(approval_only, set(labels), f"{path}.approval_only")
            except ConditionError as exc:
                raise DefinitionError(f"{check.source}: {exc}") from exc
        checks = item.get("checks") or []
        if not isinstance(checks, list) or any(c not in CHECKS for c in checks):
            check.fail(f"{path}.checks", "неизвестная проверка; допустимы: "
                       + ", ".join(CHECKS))
        if not isinstance(item.get("by_process", False), bool):
            check.fail(f"{path}.by_process", "нужно true или false")
        out.append(StageDef(
            by_process=item.get("by_process", False),
            checks=tuple(checks),
            approval_only=approval_only,
            participants=participants,
            aside=item.get("aside", False),
            key=item["key"], name=check.require(item, "name", path), kind=kind, order=i + 1,
            color=item.get("color"), deadline=deadline, escalate_to=tuple(escalate_to),
            required=tuple(item.get("required") or ()), required_if=tuple(required_if),
            required_positive=tuple(item.get("required_positive") or ()),
            readonly=tuple(item.get("readonly") or ()),
            moves=tuple(moves) if moves is not None else None,
            on_enter=_actions(item.get("on_enter") or [], f"{path}.on_enter", check, catalog,
                              labels, keys),
            on_leave=_actions(item.get("on_leave") or [], f"{path}.on_leave", check, catalog,
                              labels, keys),
            readonly_if=_conditional_fields(item.get("readonly_if"), f"{path}.readonly_if",
                                            check, labels)))
    return out


def _participants(raw, path: str, check: _Check, catalog: Catalog) -> tuple[str, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list) or not all(isinstance(r, str) for r in raw):
        check.fail(path, "ожидается список ролей")
    for role in raw:
        if catalog.roles and role not in catalog.roles:
            check.fail(path, f"неизвестная роль «{role}»")
    return tuple(dict.fromkeys(raw))


def _actions(raw, path: str, check: _Check, catalog: Catalog, labels: dict,
             stage_keys: list[str]) -> tuple[ActionDef, ...]:
    if not isinstance(raw, list):
        check.fail(path, "ожидается список действий")
    out, seen = [], set()
    for i, item in enumerate(raw):
        where = f"{path}[{i}]"
        if not isinstance(item, dict):
            check.fail(where, "действие должно быть объектом")
        name = check.require(item, "do", where)
        spec: ActionSpec | None = ACTIONS.get(name)
        if spec is None:
            check.fail(f"{where}.do", f"неизвестное действие «{name}»; допустимы: "
                       + ", ".join(sorted(ACTIONS)))
        if not spec.available:
            check.fail(f"{where}.do", f"действие «{name}» пока недоступно (not available "
                       "yet): его сделает следующая версия")
        key = item.get("key") or f"{name}_{i + 1}"
        if key in seen:
            check.fail(f"{where}.key", f"ключ действия «{key}» повторяется")
        seen.add(key)
        params = {k: v for k, v in item.items() if k not in ("do", "key", "when")}
        problem = spec.check(params, labels=labels, roles=catalog.roles, stages=stage_keys,
                             ctx=_ctx(catalog))
        if problem:
            check.fail(f"{where}.{problem[0]}" if problem[0] else where, problem[1])
        when = item.get("when")
        if when is not None:
            try:
                validate_condition(when, set(labels), f"{where}.when")
            except ConditionError as exc:
                raise DefinitionError(f"{check.source}: {exc}") from exc
        out.append(ActionDef(name=name, key=key, params=params, when=when))
    return tuple(out)


def _ctx(catalog: Catalog) -> dict:
    return {"entities": catalog.entity_fields, "entity_stages": catalog.entity_stages,
            "lists": catalog.reference_lists, "routes": catalog.routes,
            "document_templates": catalog.document_templates, "entity": catalog.entity}


def load_routes(paths, roles) -> dict[str, dict]:
    """Shared approval routes, one YAML file each: `{key, name?, steps, rework?}`. A route
    here knows no record's fields (`{field: ...}` approvers belong in a definition)."""
    out: dict[str, dict] = {}
    for path in paths:
        data = load_yaml(Path(path).read_text(encoding="utf-8"), Path(path).name)
        check = _Check(Path(path).name)
        if not isinstance(data, dict):
            check.fail("(корень)", "маршрут должен быть объектом YAML: key, steps, rework")
        check.known_keys(data, {"key", "name", "steps", "rework"}, "")
        key = check.require(data, "key", "")
        if not _KEY.match(key):
            check.fail("key", f"«{key}»: только строчные латинские буквы, цифры и _")
        if key in out:
            check.fail("key", f"маршрут «{key}» уже есть в другом файле")
        route = {k: v for k, v in data.items() if k in ("steps", "rework")}
        problem = route_problem(route, {}, roles)
        if problem:
            check.fail(problem[0] or "(корень)", problem[1])
        out[key] = route
    return out


def _routes(raw, check: _Check, catalog: Catalog, labels: dict) -> dict[str, dict]:
    """`routes: {name: {steps, rework}}`: approval routes `start_approval` names."""
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        check.fail("routes", "ожидается объект «название маршрута: {steps, rework}»")
    for name, route in raw.items():
        if not isinstance(name, str) or not _KEY.match(name):
            check.fail("routes", f"«{name}»: только строчные латинские буквы, цифры и _")
        problem = route_problem(route, labels, catalog.roles)
        if problem:
            where = f"routes.{name}" + (f".{problem[0]}" if problem[0] else "")
            check.fail(where, problem[1])
    return dict(raw)


def _reachability(stages: list[StageDef], check: _Check) -> None:
    """Every stage reachable from the first; an open stage with moves must lead somewhere
    that can end (a won or lost stage), or the process loops with no exit."""
    graph = {s.key: (s.moves if s.moves is not None else tuple(x.key for x in stages))
             for s in stages}
    for stage in stages:
        for action in stage.on_enter:
            if action.name == "move_stage":
                graph[stage.key] = tuple({*graph[stage.key], action.params["to"]})
    seen, todo = set(), [stages[0].key]
    while todo:
        key = todo.pop()
        if key not in seen:
            seen.add(key)
            todo.extend(graph[key])
    for stage in stages:
        if stage.key not in seen:
            check.fail(f"stages.{stage.key}", "этап недостижим из первого этапа")
    final = {s.key for s in stages if s.kind != "open"}
    if not final:
        return
    can_end = set(final)
    changed = True
    while changed:
        changed = False
        for key, targets in graph.items():
            if key not in can_end and set(targets) & can_end:
                can_end.add(key)
                changed = True
    for stage in stages:
        if stage.key not in can_end:
            check.fail(f"stages.{stage.key}.moves",
                       "цикл без выхода: из этого этапа нельзя дойти до завершающего этапа")
