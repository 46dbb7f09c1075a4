"""Process definitions in the database: installing them (pipelines, stages, custom fields and a
kept version of every text), finding the active one, and checking them all.

The engine (rules/) is pure; this module is its adapter: it tells the engine what exists
(`app_catalog`) and stores what the engine accepted. A refused definition writes nothing.

Stages dropped from a new version: a stage no record stands on is deleted; a stage with
records on it refuses the install (the admin moves those records first), because Stage has
no "retired" flag and silently stranding records would be worse. Custom fields dropped from
a new version are kept (records still hold their values and the record check refuses unknown
keys) and moved to the end of the form."""
from __future__ import annotations

import datetime as dt
import hashlib
import re
import uuid
from functools import cache
from pathlib import Path

import yaml
from sqlalchemy import bindparam, func, select, text, update
from sqlalchemy import inspect as sa_inspect

from app.access import access_table, role_labels
from app.extensions import db
from app.formatting import to_local
from documents.fields import record_fields_in
from documents.kinds import KINDS, SHIPPED
from errors import CrmError, DefinitionError, MissingFields
from models.base import utcnow
from models.deal import Deal
from models.document import DocumentTemplate
from models.event import Event
from models.labels import labels_for
from models.lead import Lead
from models.office_request import OfficeRequest
from models.order import Order
from models.pipeline import CustomFieldDef, Pipeline, Stage
from models.process import ProcessVersion
from models.reference import ReferenceItem, ReferenceList
from models.trash import SHOW_BINNED
from rules.actions import ACTIONS
from rules.definition import ActionDef, Catalog, ProcessDef, load_routes, load_yaml, parse
from rules.durations import DurationError, parse_duration
from rules.engine import plan_move, why_not

DEFINITIONS_DIR = Path(__file__).resolve().parent.parent / "rules" / "definitions"
# Approval routes any definition may name (`route: key`), one file each.
ROUTES_DIR = DEFINITIONS_DIR / "routes"
# Entities whose records stand on a Pipeline's stages (lead.stage_id, deal.stage_id).
PIPELINE_ENTITIES = ("lead", "deal", "request")
# Columns and relationships that are bookkeeping, not something a definition talks about.
_TECHNICAL = {"id", "version", "updated_at", "custom", "pipeline", "stage", "stage_entered_at",
              "rule_key", "transition_id", "effect_key", "record_entity", "record_id"}


# --- what a definition may refer to -----------------------------------------------------

def _entity_models() -> dict:
    return {"lead": Lead, "deal": Deal, "event": Event, "order": Order,
            "request": OfficeRequest}


def _entity_labels() -> dict[str, dict[str, str]]:
    return {entity: labels_for(entity) for entity in _entity_models()}


def entity_fields(entity: str) -> dict[str, str]:
    """{field key: Russian label} of a model: its columns, with a foreign key column named
    by its relationship (company_id -> company), minus bookkeeping."""
    model = _entity_models()[entity]
    labels = _entity_labels()[entity]
    mapper = sa_inspect(model)
    keys: list[str] = []
    for column in mapper.columns:
        if column.key in _TECHNICAL or column.key.endswith("_id"):
            continue
        keys.append(column.key)
    keys += [rel.key for rel in mapper.relationships if rel.key not in _TECHNICAL]
    return {key: str(labels.get(key, key)) for key in keys}


def app_catalog() -> Catalog:
    lists = frozenset(db.session.scalars(select(ReferenceList.code)).all())
    roles = frozenset(access_table().roles)
    templates = {t.key: (t.kind, record_fields_in(t.source)) for t in db.session.scalars(
        select(DocumentTemplate).where(DocumentTemplate.active.is_(True)))}
    return Catalog(entity_fields={e: entity_fields(e) for e in _entity_models()},
                   roles=roles, reference_lists=lists,
                   routes=load_routes(sorted(ROUTES_DIR.glob("*.yaml")), roles),
                   document_templates=templates)


# --- parsing ------------------------------------------------------------------------------

def parse_text(source_text: str, filename: str, catalog: Catalog | None = None) -> ProcessDef:
    """The YAML text as a validated ProcessDef, or DefinitionError naming the file."""
    data = load_yaml(source_text, filename)
    try:
        return parse(data, catalog or app_catalog(), filename)
    except (TypeError, AttributeError, KeyError, IndexError, ValueError) as exc:
        # The checks name the path of what they expect; a value of an unexpected type
        # where none is checked (a list of objects where field names are expected...)
        # is refused as a whole rather than failing the upload with a server error.
        raise DefinitionError(
            f"{filename}: значение неверного типа: где-то вместо названия, числа или "
            "списка названий указан список или объект; сверьте определение с образцами "
            "в rules/definitions") from exc


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


# --- installing ---------------------------------------------------------------------------

def install_definition(source_text: str, filename: str,
                       user_id: int | None = None) -> ProcessVersion:
    """Validates and installs one definition in the caller's transaction (flush, no commit).
    Returns the new active version, or the active one when its text is identical."""
    if isinstance(source_text, bytes):
        try:
            source_text = source_text.decode("utf-8")
        except UnicodeDecodeError:
            raise DefinitionError(f"{filename}: файл: ожидается текст в кодировке UTF-8") \
                from None
    process = parse_text(source_text, filename)
    digest = sha256(source_text)
    lock_installs(process.key)
    active = active_version(process.key)
    if active is not None and active.sha256 == digest:
        return active
    if active is not None and active.entity != process.entity:
        raise DefinitionError(
            f"{filename}: entity: процесс «{process.key}» установлен для «{active.entity}», "
            f"нельзя сменить на «{process.entity}»; дайте процессу другой key")
    pipeline = None
    if process.entity in PIPELINE_ENTITIES:
        pipeline = _sync_pipeline(process, filename)
    last = db.session.scalar(select(func.max(ProcessVersion.version))
                             .where(ProcessVersion.process_key == process.key)) or 0
    if active is not None:
        active.active = False
        # Flush the deactivation first: a partial unique index on (key, active) would
        # otherwise see two active rows in one statement batch.
        db.session.flush()
    version = ProcessVersion(process_key=process.key, version=last + 1, name=process.name,
                             entity=process.entity, filename=filename[:200],
                             source=source_text, sha256=digest, active=True,
                             installed_by_id=user_id, pipeline=pipeline)
    db.session.add(version)
    db.session.flush()
    return version


def lock_installs(process_key: str) -> None:
    """Installs of one process wait for each other, so each reads the active version only
    after the one before it committed (two would otherwise both deactivate the same version
    and leave two active). PostgreSQL: a transaction-level advisory lock on the key, which
    also holds for the first install, when there is no row to lock yet (a row lock there let
    one install read the active version before another committed and count the versions
    after, leaving two active). SQLite: a no-op write takes the database's write lock."""
    if db.engine.dialect.name == "postgresql":
        db.session.execute(text("SELECT pg_advisory_xact_lock(hashtext(:key))"),
                           {"key": f"crm-process-install:{process_key}"})
        return
    db.session.execute(update(ProcessVersion)
                       .where(ProcessVersion.process_key == process_key)
                       .values(active=ProcessVersion.active)
                       .execution_options(synchronize_session=False))


def _records_on_stage(stage_id: int) -> int:
    # Records in the recycle bin hold their stage too: a restore brings them back to it.
    return sum(db.session.scalar(select(func.count()).select_from(m)
                                 .where(m.stage_id == stage_id)
                                 .execution_options(**SHOW_BINNED)) or 0 for m in (Lead, Deal))


def _sync_pipeline(process: ProcessDef, filename: str) -> Pipeline:
    pipeline = db.session.scalar(select(Pipeline).where(Pipeline.code == process.key))
    if pipeline is not None and pipeline.entity != process.entity:
        raise DefinitionError(
            f"{filename}: key: воронка с кодом «{process.key}» уже есть для раздела "
            f"«{pipeline.entity_label}»; дайте процессу другой key")
    wanted = {s.key for s in process.stages}
    if pipeline is not None:
        # Every refusal before the first write: a refused install leaves nothing behind.
        for stage in pipeline.stages:
            if stage.key not in wanted and stage.id is not None:
                count = _records_on_stage(stage.id)
                if count:
                    raise DefinitionError(
                        f"{filename}: stages: этап «{stage.name}» ({stage.key}) убран из "
                        f"определения, но на нём {count} записей; переведите их на другой "
                        "этап и повторите установку")
    if pipeline is None:
        pipeline = Pipeline(code=process.key, name=process.name, entity=process.entity,
                            active=True)
        db.session.add(pipeline)
    pipeline.name = process.name
    by_key = {s.key: s for s in pipeline.stages}
    for stage in list(pipeline.stages):
        if stage.key not in wanted:
            pipeline.stages.remove(stage)  # delete-orphan: nobody stands on it (checked)
    for sdef in process.stages:
        stage = by_key.get(sdef.key)
        if stage is None:
            stage = Stage(key=sdef.key)
            pipeline.stages.append(stage)
        stage.name = sdef.name
        stage.sort_order = sdef.order * 10
        stage.kind = sdef.kind
        stage.color = sdef.color
        stage.deadline = sdef.deadline
    fields = {f.key: f for f in pipeline.fields}
    defined = {f.key for f in process.fields}
    for order, fdef in enumerate(process.fields, start=1):
        field = fields.get(fdef.key)
        if field is None:
            field = CustomFieldDef(key=fdef.key)
            pipeline.fields.append(field)
        field.label = fdef.label
        field.type = fdef.type
        field.reference_list = fdef.list
        field.allow_other = fdef.allow_other
        field.sort_order = order * 10
    for extra, field in enumerate((f for k, f in fields.items() if k not in defined),
                                  start=1):
        field.sort_order = 1000 + extra
    db.session.flush()
    return pipeline


def install_file(path: Path, user_id: int | None = None) -> ProcessVersion:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise DefinitionError(f"{path.name}: файл: ожидается текст в кодировке UTF-8") \
            from None
    except OSError as exc:
        raise DefinitionError(f"{path.name}: файл не читается ({exc.strerror})") from None
    return install_definition(text, path.name, user_id)


def shipped_files() -> list[Path]:
    return sorted(DEFINITIONS_DIR.glob("*.yaml"))


def install_shipped() -> list[str]:
    """Installs every shipped definition (idempotent) and commits. A bad file is reported
    and skipped, so one broken definition does not stop the seed of everything else."""
    lines = []
    for path in shipped_files():
        try:
            before = active_version_id_for_file(path)
            version = install_file(path)
            db.session.commit()
        except DefinitionError as exc:
            db.session.rollback()
            lines.append(f"Процесс не установлен: {exc.message}")
            continue
        if before == version.id:
            lines.append(f"Процесс «{version.name}» ({path.name}): без изменений, "
                         f"версия {version.version}")
        else:
            lines.append(f"Процесс «{version.name}» ({path.name}): установлена версия "
                         f"{version.version}")
    return lines


def active_version_id_for_file(path: Path) -> int | None:
    """The active version whose text is this file's, if any (for the seed's report)."""
    try:
        digest = sha256(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError):
        return None
    return db.session.scalar(select(ProcessVersion.id).where(
        ProcessVersion.sha256 == digest, ProcessVersion.active.is_(True)))


# --- the active definitions ---------------------------------------------------------------

# (version id, sha256) -> ProcessDef. The sha guards against a reused id (tests empty tables
# and restart identities); a new version always has a new id, so entries never go stale.
_CACHE: dict[tuple[int, str], ProcessDef] = {}


def active_version(process_key: str) -> ProcessVersion | None:
    return db.session.scalar(select(ProcessVersion).where(
        ProcessVersion.process_key == process_key, ProcessVersion.active.is_(True))
        .order_by(ProcessVersion.version.desc()).limit(1))


def definition_of(version: ProcessVersion | None) -> ProcessDef | None:
    if version is None:
        return None
    key = (version.id, version.sha256)
    process = _CACHE.get(key)
    if process is None:
        process = parse_text(version.source, version.filename)
        if len(_CACHE) > 256:
            _CACHE.clear()
        _CACHE[key] = process
    return process


def active_process(process_key: str) -> ProcessDef | None:
    return definition_of(active_version(process_key))


def process_for_pipeline(pipeline_id: int) -> ProcessDef | None:
    version = db.session.scalar(_pipeline_version_query(), {"pipeline_id": pipeline_id})
    if version is None:
        # A pipeline made before its definition was installed: match by code.
        code = db.session.scalar(select(Pipeline.code).where(Pipeline.id == pipeline_id))
        return active_process(code) if code else None
    return definition_of(version)


@cache
def _pipeline_version_query():
    """Built once (every move runs it): the pipeline is a parameter."""
    return select(ProcessVersion).where(
        ProcessVersion.pipeline_id == bindparam("pipeline_id"),
        ProcessVersion.active.is_(True)).order_by(ProcessVersion.version.desc()).limit(1)


def process_for_entity(entity: str) -> ProcessDef | None:
    """The one active process of an entity without pipelines (event, order); for lead and
    deal the first one by key (use process_for_pipeline there)."""
    version = db.session.scalar(select(ProcessVersion).where(
        ProcessVersion.entity == entity, ProcessVersion.active.is_(True))
        .order_by(ProcessVersion.process_key).limit(1))
    return definition_of(version)


def participant_stages(entity: str, role_names) -> dict[int | None, tuple[str, ...]]:
    """{pipeline id (None for events and orders): stage keys} where a holder of one of
    `role_names` is a participant of the active definitions of `entity`."""
    roles = set(role_names)
    out: dict[int | None, tuple[str, ...]] = {}
    if not roles:
        return out
    versions = db.session.scalars(select(ProcessVersion).where(
        ProcessVersion.entity == entity, ProcessVersion.active.is_(True))).all()
    for version in versions:
        process = definition_of(version)
        keys = tuple(s.key for s in process.stages if roles & set(s.participants))
        if keys:
            pipeline_id = None
            if entity in PIPELINE_ENTITIES:
                pipeline_id = version.pipeline_id or db.session.scalar(
                    select(Pipeline.id).where(Pipeline.code == version.process_key))
                if pipeline_id is None:
                    continue
            out[pipeline_id] = tuple(dict.fromkeys(out.get(pipeline_id, ()) + keys))
    return out


def active_versions() -> list[ProcessVersion]:
    return list(db.session.scalars(select(ProcessVersion).where(
        ProcessVersion.active.is_(True)).order_by(ProcessVersion.process_key)).all())


def versions_of(process_key: str) -> list[ProcessVersion]:
    return list(db.session.scalars(select(ProcessVersion).where(
        ProcessVersion.process_key == process_key)
        .order_by(ProcessVersion.version.desc())).all())


# --- checks -------------------------------------------------------------------------------

def check_file(path: Path, catalog: Catalog | None = None) -> str | None:
    """None when the file is a valid definition, else the one-sentence problem."""
    path = Path(path)
    try:
        parse_text(path.read_text(encoding="utf-8"), path.name, catalog)
    except DefinitionError as exc:
        return exc.message
    except (OSError, UnicodeDecodeError):
        return f"{path.name}: файл не читается как текст UTF-8"
    return None


def check_all() -> list[str]:
    """Every shipped file and every active installed version; [] when all are good."""
    catalog = app_catalog()
    problems = []
    keys: dict[str, str] = {}
    for path in shipped_files():
        problem = check_file(path, catalog)
        if problem:
            problems.append(problem)
            continue
        key = yaml.safe_load(path.read_text(encoding="utf-8")).get("key")
        if key in keys:
            problems.append(f"{path.name}: key: процесс «{key}» уже определён в файле "
                            f"{keys[key]}")
        keys[key] = path.name
    for version in active_versions():
        try:
            parse_text(version.source, version.filename, catalog)
        except DefinitionError as exc:
            problems.append(f"Установленная версия {version.version} процесса "
                            f"«{version.process_key}»: {exc.message}")
    return problems


# --- in words (the admin screen and the simulation) --------------------------------------

STAGE_KIND_WORDS = {"open": "открыт", "won": "успех", "lost": "провал"}
_UNIT_FORMS = {
    "minutes": ("минута", "минуты", "минут"), "hours": ("час", "часа", "часов"),
    "days": ("день", "дня", "дней"), "weeks": ("неделя", "недели", "недель"),
    "working_days": ("рабочий день", "рабочих дня", "рабочих дней"),
    "working_hours": ("рабочий час", "рабочих часа", "рабочих часов"),
}
_OP_WORDS = {"eq": "равно", "ne": "не равно", "gt": "больше", "ge": "не меньше",
             "lt": "меньше", "le": "не больше", "in": "одно из", "contains": "содержит"}


def plural(n: int, forms: tuple[str, str, str]) -> str:
    n = abs(n)
    if n % 10 == 1 and n % 100 != 11:
        return forms[0]
    if 2 <= n % 10 <= 4 and not 12 <= n % 100 <= 14:
        return forms[1]
    return forms[2]


def duration_words(text) -> str:
    """'1h' -> '1 час', '2 working days' -> '2 рабочих дня'."""
    if text in (None, ""):
        return ""
    try:
        d = parse_duration(text)
    except DurationError:
        return str(text)
    if d.unit not in _UNIT_FORMS:
        return "до конца дня" if d.unit == "end_of_day" else str(text)
    return f"{d.amount} {plural(d.amount, _UNIT_FORMS[d.unit])}"


def format_local(value) -> str:
    """A local wall-clock datetime as ДД.ММ.ГГГГ ЧЧ:ММ (a date alone as ДД.ММ.ГГГГ)."""
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        return value.strftime("%d.%m.%Y %H:%M")
    if isinstance(value, dt.date):
        return value.strftime("%d.%m.%Y")
    return str(value)


def _value_words(value) -> str:
    if value is True:
        return "да"
    if value is False:
        return "нет"
    if isinstance(value, list):
        return ", ".join(f"«{v}»" for v in value)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return f"{value:,}".replace(",", "\u00a0")
    return f"«{value}»"


def condition_words(cond, labels: dict[str, str]) -> str:
    """{'field': 'budget', 'op': 'gt', 'value': 500000} -> '«Бюджет» больше 500 000'."""
    if not cond:
        return ""
    if "all" in cond:
        return " и ".join(condition_words(c, labels) for c in cond["all"])
    if "any" in cond:
        return "(" + " или ".join(condition_words(c, labels) for c in cond["any"]) + ")"
    if "not" in cond:
        return f"не ({condition_words(cond['not'], labels)})"
    name = f"«{labels.get(cond['field'], cond['field'])}»"
    if cond.get("old"):
        name += " (до изменения)"
    op = cond["op"]
    if op == "empty":
        return f"{name} не заполнено" if cond.get("value", True) else f"{name} заполнено"
    if op == "changed":
        return f"{name} изменилось"
    value = cond.get("value")
    if op == "eq" and isinstance(value, bool):
        return f"{name}: {'да' if value else 'нет'}"
    return f"{name} {_OP_WORDS.get(op, op)} {_value_words(value)}"


def person_words(spec, labels: dict[str, str]) -> str:
    if spec in (None, "responsible"):
        return "ответственный"
    if spec == "actor":
        return "тот, кто переводит на этап"
    if isinstance(spec, dict) and len(spec) == 1:
        (kind, arg), = spec.items()
        if kind == "role":
            return f"роль «{role_labels().get(arg, arg)}»"
        if kind == "department_head":
            return "руководитель отдела ответственного"
        if kind == "user":
            return f"пользователь {arg}"
        if kind == "field":
            return f"сотрудник из поля «{labels.get(arg, arg)}»"
    return str(spec)


def people_words(specs, labels) -> str:
    return ", ".join(person_words(s, labels) for s in specs or ())


def _outcomes_words(outcomes: dict, process: ProcessDef) -> str:
    parts = []
    for label, effect in (outcomes or {}).items():
        effect = effect or {}
        if "move" in effect:
            parts.append(f"«{label}» → этап «{_stage_name(process, effect['move'])}»")
        elif "task" in effect:
            task = effect["task"] or {}
            again = ", повторяется до результата" if task.get("repeat") else ""
            parts.append(f"«{label}» → задача «{task.get('title', '')}»{again}")
        else:
            parts.append(f"«{label}»")
    return "; ".join(parts)


def _stage_name(process: ProcessDef, key: str) -> str:
    try:
        return process.stage(key).name
    except KeyError:
        return key


_PLACEHOLDER = re.compile(r"\{([a-z_][a-z0-9_]*)(?:\.([a-z_][a-z0-9_]*))?\}")
_ROOT_WORDS = {"responsible": "ответственный", "company": "контрагент", "contact": "контакт",
               "stage": "этап", "actor": "исполнитель перехода", "now": "сейчас",
               "record": "запись"}
_ATTR_WORDS = {"full_name": "ФИО", "first_name": "имя", "last_name": "фамилия",
               "position": "должность", "phone": "телефон", "email": "e-mail", "name": "название"}


def template_words(text: str, labels: dict[str, str]) -> str:
    """'Сделка «{title}»' -> 'Сделка «[Название]»': a reader sees what will be put there."""
    def word(match):
        root, attr = match.group(1), match.group(2)
        name = labels.get(root) or _ROOT_WORDS.get(root, root)
        return f"[{name}{': ' + _ATTR_WORDS.get(attr, attr) if attr else ''}]"

    return _PLACEHOLDER.sub(word, str(text))


def action_words(action, process: ProcessDef) -> str:
    """An action of a definition in Russian words, e.g.
    'Задача «Проверить товарные позиции» → ответственный, срок 1 день'."""
    labels = process.labels
    p = {k: template_words(v, labels) if k in ("title", "text", "subject") else v
         for k, v in action.params.items()}
    name = action.name
    if name == "create_task":
        text = f"Задача «{p['title']}» → {person_words(p.get('assignee'), labels)}"
        if p.get("deadline"):
            text += f", срок {duration_words(p['deadline'])}"
        if p.get("creator") not in (None, "actor"):
            text += f"; ставит: {person_words(p['creator'], labels)}"
        if p.get("outcomes"):
            text += f"; результаты: {_outcomes_words(p['outcomes'], process)}"
    elif name == "notify":
        text = f"Уведомление → {people_words(p['to'], labels)}: «{p['text']}»"
        if p.get("attachments"):
            text += ", с файлами " + ", ".join(f"«{labels.get(f, f)}»" for f in p["attachments"])
    elif name == "send_message":
        text = f"Сообщение клиенту «{p['subject']}»"
    elif name == "generate_document":
        text = f"Сформировать документ «{KINDS[p['kind']].title}»"
        template = p.get("template")
        if template and template != p["kind"]:
            name_ = SHIPPED[template].name if template in SHIPPED else template
            text += f" по шаблону «{name_}»"
        if p.get("send_to") == "client":
            text += " и отправить клиенту по e-mail"
    elif name == "set_field":
        value = p["value"]
        if isinstance(value, dict) and "after" in value:
            value_text = f"дата через {duration_words(value['after'])}"
        else:
            value_text = _value_words(value)
        text = f"Заполнить поле «{labels.get(p['field'], p['field'])}»: {value_text}"
    elif name == "assign":
        strategy = {"round_robin": "по очереди", "least_tasks": "кому меньше задач"}.get(
            p.get("strategy"), p.get("strategy") or "по очереди")
        text = f"Назначить ответственного из роли «{_role_label(p['role'])}» ({strategy})"
    elif name == "move_stage":
        text = f"Перевести на этап «{_stage_name(process, p['to'])}»"
    elif name == "schedule":
        when = []
        if p.get("after"):
            when.append(f"через {duration_words(p['after'])}")
        if p.get("relative_to"):
            when.append(f"от поля «{labels.get(p['relative_to'], p['relative_to'])}»")
        text = f"Выполнить позже ({' '.join(when) or 'по расписанию'}): " \
               f"{_nested_words(p.get('action'), process)}"
    elif name == "repeat":
        text = f"Повторять каждые {duration_words(p['every'])}, пока запись на этапе: " \
               f"{_nested_words(p.get('action'), process)}"
    elif name == "create_record":
        text = f"Создать запись «{p['entity']}»"
    elif name == "convert_lead":
        text = "Конвертировать лид в контакт, компанию и сделку"
    else:
        spec = ACTIONS.get(name)
        text = spec.label if spec else name
    if action.when:
        text += f" — если {condition_words(action.when, labels)}"
    return text


def _role_label(role: str) -> str:
    return role_labels().get(role, role)


def _nested_words(raw, process: ProcessDef) -> str:
    """The action inside schedule / repeat (a plain dict with `do`)."""
    if not isinstance(raw, dict) or "do" not in raw:
        return str(raw)
    params = {k: v for k, v in raw.items() if k not in ("do", "key", "when")}
    try:
        return action_words(ActionDef(name=raw["do"], key=raw.get("key", ""), params=params,
                                      when=raw.get("when")), process)
    except (KeyError, TypeError):
        return str(raw.get("do"))


def required_words(stage, process: ProcessDef) -> tuple[list[str], list[str]]:
    """(required labels, conditional ones as 'labels — если condition')."""
    labels = process.labels
    plain = [labels.get(k, k) for k in stage.required]
    plain += [f"{labels.get(k, k)} (больше нуля)" for k in stage.required_positive]
    conditional = [", ".join(f"«{labels.get(k, k)}»" for k in fields)
                   + f" — если {condition_words(cond, labels)}"
                   for fields, cond in stage.required_if]
    if stage.kind == "lost" and process.lost_reason_list:
        plain.append(labels.get("lost_reason", "Причина проигрыша"))
    return plain, conditional


# --- simulation: a sample record walked through a process, with no writes ----------------

SAMPLE_CONTEXT = {"responsible": {"full_name": "Иванов Иван Иванович",
                                  "first_name": "Иван", "last_name": "Иванов",
                                  "position": "Менеджер по продажам",
                                  "phone": "+7 900 000-00-00", "email": "manager@example.com"},
                  "company": {"name": "ООО «Пример»"}, "contact": {"name": "Петров Пётр"}}
_MONEY_KEYS = {"budget", "total", "amount", "price"}


def find_process(process_key: str) -> ProcessDef | None:
    """The active installed version, else the shipped file with that key (not installed
    yet): the simulation must work on a fresh checkout too."""
    process = active_process(process_key)
    if process is not None:
        return process
    catalog = app_catalog()
    for path in shipped_files():
        try:
            candidate = parse_text(path.read_text(encoding="utf-8"), path.name, catalog)
        except (DefinitionError, OSError, UnicodeDecodeError):
            continue
        if candidate.key == process_key:
            return candidate
    return None


def _first_item_code(list_code: str | None) -> str | None:
    if not list_code:
        return None
    return db.session.scalar(select(ReferenceItem.code).join(ReferenceList).where(
        ReferenceList.code == list_code, ReferenceItem.active.is_(True),
        ReferenceItem.is_other.is_(False)).order_by(ReferenceItem.sort_order).limit(1))


def sample_value(process: ProcessDef, key: str, now_local):
    ftype = next((f for f in process.fields if f.key == key), None)
    kind = ftype.type if ftype else None
    if key == "lost_reason":
        return _first_item_code(process.lost_reason_list) or "other"
    if kind == "choice":
        return _first_item_code(ftype.list) or "Другое"
    if kind in ("money",) or (kind is None and key in _MONEY_KEYS):
        return 100000
    if kind == "percent":
        return 10
    if kind in ("integer", "user", "contact", "file"):
        return 1
    if kind == "bool":
        return True
    if kind == "date":
        return (now_local + dt.timedelta(days=1)).date()
    if kind == "datetime":
        return now_local + dt.timedelta(days=1)
    return f"Пример: {process.labels.get(key, key)}"


def _sample_words(value) -> str:
    if isinstance(value, bool):
        return "да" if value else "нет"
    if isinstance(value, dt.date):
        return format_local(value)
    return str(value)


def effect_words(effect, process: ProcessDef) -> str:
    """A planned effect with its rendered texts and due time."""
    p, labels = effect.params, process.labels
    due = f", срок {format_local(effect.due_at)}" if effect.due_at else ""
    if effect.action == "create_task":
        text = f"Задача «{p.get('title', '')}» → {person_words(p.get('assignee'), labels)}{due}"
        if p.get("creator") not in (None, "actor"):
            text += f"; ставит: {person_words(p['creator'], labels)}"
        if p.get("outcomes"):
            text += f"; результаты: {_outcomes_words(p['outcomes'], process)}"
        return text
    if effect.action == "notify":
        return f"Уведомление → {people_words(p.get('to'), labels)}: «{p.get('text', '')}»"
    if effect.action == "send_message":
        return (f"Сообщение клиенту «{p.get('subject', '')}»: "
                f"{' '.join(str(p.get('body', '')).split())}")
    if effect.action == "schedule":
        when = f"на {format_local(effect.due_at)}" if effect.due_at else \
            f"от поля «{labels.get(p.get('relative_to'), p.get('relative_to'))}»"
        return f"Отложенное действие {when}: {_nested_words(p.get('action'), process)}"
    if effect.action == "set_field":
        return f"Поле «{labels.get(p['field'], p['field'])}» = {_sample_words(p['value'])}"
    return action_words(ActionDef(name=effect.action, key="", params=p), process) + due


def _fill_samples(process: ProcessDef, from_key: str | None, to_key: str, vals: dict,
                  now_local, lines: list[str]):
    """Fills the missing fields with samples until the move is allowed or refused for
    another reason (returned). Several rounds: a filled field can make others required
    (the client type asks for the requisites of that type)."""
    refusal = why_not(process, from_key, to_key, vals)
    for _ in range(len(process.fields) + 2):
        if not isinstance(refusal, MissingFields):
            return refusal
        lines.append(f"  Отказ: {refusal.message}")
        filled = []
        for key in refusal.errors:
            vals[key] = sample_value(process, key, now_local)
            filled.append(f"«{process.labels.get(key, key)}» = {_sample_words(vals[key])}")
        lines.append("  Симуляция заполняет примерными значениями: " + "; ".join(filled))
        refusal = why_not(process, from_key, to_key, vals)
    return refusal


def simulate(process: ProcessDef, stages: list[str] | None = None,
             values: dict | None = None, now_local=None) -> list[str]:
    """Lines describing each move of a sample record: refusals (and the sample values the
    simulation then fills in), and the tasks, messages, notifications and schedules the
    move would create. Nothing is written."""
    if now_local is None:
        now_local = to_local(utcnow()).replace(tzinfo=None, second=0, microsecond=0)
    path = list(stages) if stages else process.happy_path()
    vals = {"title": f"Пример: {process.name}"}
    if "budget" in process.labels:
        vals["budget"] = 100000  # amount rules pick one branch; --values chooses another
    vals.update(values or {})
    lines = [f"Процесс «{process.name}» ({process.key}), время начала "
             f"{format_local(now_local)}; ничего не записывается."]
    current = None
    for to_key in path:
        try:
            target = process.stage(to_key)
        except KeyError:
            lines.append(f"Этапа «{to_key}» в процессе нет; пропущен.")
            continue
        title = (f"Переход «{process.stage(current).name}» → «{target.name}»" if current
                 else f"Начало: этап «{target.name}»")
        lines.append("")
        lines.append(title)
        from_key = current
        refusal = _fill_samples(process, from_key, to_key, vals, now_local, lines)
        if refusal is not None:
            lines.append(f"  Отказ: {refusal.message}")
            lines.append("  Симуляция продолжает, как будто переход разрешён "
                         "(действия при выходе с этапа не учтены)")
            from_key = None
        try:
            plan = plan_move(process, from_key, to_key, vals, uuid.uuid4().hex[:12],
                             now_local, context=SAMPLE_CONTEXT)
        except CrmError as exc:
            # A refusal the samples cannot cure is a line of the report, not a traceback.
            lines.append(f"  Симуляция не может провести переход: {exc.message}")
            current = to_key
            continue
        if plan.stage_deadline:
            lines.append(f"  Срок на этапе: {duration_words(target.deadline)}, до "
                         f"{format_local(plan.stage_deadline)}")
        if not plan.effects:
            lines.append("  Действий нет")
        for effect in plan.effects:
            if effect.action == "set_field":
                # The value is applied: later conditions and templates see it.
                vals[effect.params["field"]] = effect.params["value"]
            lines.append(f"  • {effect_words(effect, process)}")
        current = to_key
    return lines
