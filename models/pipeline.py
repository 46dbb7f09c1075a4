"""Pipelines, their stages and custom fields, and what every pipeline record (lead, deal)
shares: pipeline and stage, the time it entered the stage, custom field values.

The process engine (rules/) fills pipelines from the YAML definitions; admins can also
edit them on screen."""
from __future__ import annotations

import datetime as dt
import enum
import re
from decimal import Decimal, InvalidOperation

from sqlalchemy import (JSON, Boolean, DateTime, ForeignKey, Integer, String,
                        UniqueConstraint, event, select)
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.orm import Mapped, declared_attr, mapped_column, object_session, relationship

from app.extensions import db
from models.attachment import Attachment
from models.base import AuditedMixin, CheckedMixin, Model, TimestampMixin, current_actor_id, utcnow
from models.party import Contact
from models.reference import ReferenceItem, ReferenceList
from models.task import open_task_exists
from models.user import CrmUser
from rules.durations import DurationError, parse_duration


class PipelineEntity(str, enum.Enum):
    lead = "lead"
    deal = "deal"
    event = "event"
    order = "order"
    request = "request"


PIPELINE_ENTITY_LABELS = {
    PipelineEntity.lead.value: "Лиды",
    PipelineEntity.deal.value: "Сделки",
    PipelineEntity.event.value: "События",
    PipelineEntity.order.value: "Заказы покупателей",
    PipelineEntity.request.value: "Заявки сотрудников",
}


class StageKind(str, enum.Enum):
    open = "open"
    won = "won"
    lost = "lost"


STAGE_KIND_LABELS = {
    StageKind.open.value: "В работе",
    StageKind.won.value: "Успешно",
    StageKind.lost.value: "Провал",
}


class FieldType(str, enum.Enum):
    string = "string"
    text = "text"
    integer = "integer"
    money = "money"
    percent = "percent"
    date = "date"
    datetime = "datetime"
    bool = "bool"
    choice = "choice"
    user = "user"
    contact = "contact"
    file = "file"


FIELD_TYPE_LABELS = {
    FieldType.string.value: "Строка",
    FieldType.text.value: "Текст",
    FieldType.integer.value: "Целое число",
    FieldType.money.value: "Деньги",
    FieldType.percent.value: "Процент",
    FieldType.date.value: "Дата",
    FieldType.datetime.value: "Дата и время",
    FieldType.bool.value: "Да/нет",
    FieldType.choice.value: "Выбор из справочника",
    FieldType.user.value: "Пользователь",
    FieldType.contact.value: "Контакт",
    FieldType.file.value: "Файл",
}

KEY_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
COLOR_RE = re.compile(r"^#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6})$")


def deadline_error(text: str | None) -> str | None:
    """The same grammar as the process definitions («30m», «1h», «2 рабочих дня», «2 рабочих
    часа», «today»), so a stage edited here never holds what the engine cannot read."""
    if not (text or "").strip():
        return None
    try:
        parse_duration(text)
    except DurationError:
        return ("Срок: число и единица, например «30m», «1h», «1d», «2 рабочих дня» или "
                "«4 рабочих часа»")
    return None


def _record_id(values):
    """Id of the record being checked: a model's id, or the pk of the form being edited."""
    rid = getattr(values, "id", None)
    if rid is None:
        form = getattr(values, "_form", None)
        rid = getattr(form, "_id", None) if form is not None else None
    return rid


def _session():
    return db.session


class Pipeline(AuditedMixin, CheckedMixin, TimestampMixin, Model):
    __tablename__ = "pipeline"
    __entity__ = "pipeline"
    __label__ = "Воронка"
    __checked_fields__ = ("code", "name", "entity")

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    entity: Mapped[str] = mapped_column(String(16), nullable=False,
                                        default=PipelineEntity.deal.value, index=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True, nullable=False)
    sort_order: Mapped[int] = mapped_column(Integer, default=100, nullable=False)

    stages = relationship("Stage", back_populates="pipeline", order_by="Stage.sort_order",
                          cascade="all, delete-orphan")
    fields = relationship("CustomFieldDef", back_populates="pipeline",
                          order_by="CustomFieldDef.sort_order", cascade="all, delete-orphan")

    @property
    def entity_label(self) -> str:
        return PIPELINE_ENTITY_LABELS.get(self.entity, self.entity or "")

    @classmethod
    def check_values(cls, v) -> dict[str, str]:
        errors = {}
        code = (v.code or "").strip()
        if not code:
            errors["code"] = "Укажите код воронки"
        elif not KEY_RE.match(code):
            errors["code"] = "Код: латинские буквы, цифры и _, начинается с буквы"
        else:
            rid = _record_id(v)
            stmt = select(cls.id).where(cls.code == code)
            if rid is not None:
                stmt = stmt.where(cls.id != int(rid))
            if _session().scalar(stmt) is not None:
                errors["code"] = f"Воронка с кодом «{code}» уже есть"
        if not (v.name or "").strip():
            errors["name"] = "Укажите название воронки"
        if (v.entity or "") not in PIPELINE_ENTITY_LABELS:
            errors["entity"] = "Выберите, для чего воронка: лиды, сделки, события или заказы"
        return errors

    def first_stage(self) -> "Stage | None":
        return self.stages[0] if self.stages else None

    def __str__(self) -> str:
        return self.name or ""


class Stage(AuditedMixin, CheckedMixin, TimestampMixin, Model):
    __tablename__ = "stage"
    __table_args__ = (UniqueConstraint("pipeline_id", "key", name="uq_stage_pipeline_key"),)
    __entity__ = "stage"
    __label__ = "Этап"
    __checked_fields__ = ("pipeline", "key", "name", "kind", "deadline", "color")

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    pipeline_id: Mapped[int] = mapped_column(Integer, ForeignKey("pipeline.id", ondelete="CASCADE"),
                                             nullable=False, index=True)
    key: Mapped[str] = mapped_column(String(64), nullable=False)
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    sort_order: Mapped[int] = mapped_column(Integer, default=100, nullable=False)
    kind: Mapped[str] = mapped_column(String(8), nullable=False, default=StageKind.open.value)
    color: Mapped[str | None] = mapped_column(String(16))
    deadline: Mapped[str | None] = mapped_column(String(64))

    pipeline = relationship(Pipeline, back_populates="stages")

    @property
    def kind_label(self) -> str:
        return STAGE_KIND_LABELS.get(self.kind, self.kind or "")

    @property
    def is_closed(self) -> bool:
        return self.kind in (StageKind.won.value, StageKind.lost.value)

    @classmethod
    def check_values(cls, v) -> dict[str, str]:
        errors = {}
        pipeline = v.pipeline
        if pipeline is None:
            errors["pipeline"] = "Выберите воронку"
        key = (v.key or "").strip()
        if not key:
            errors["key"] = "Укажите ключ этапа"
        elif not KEY_RE.match(key):
            errors["key"] = "Ключ: латинские буквы, цифры и _, начинается с буквы"
        elif pipeline is not None and pipeline.id is not None:
            rid = _record_id(v)
            stmt = select(cls.id).where(cls.pipeline_id == pipeline.id, cls.key == key)
            if rid is not None:
                stmt = stmt.where(cls.id != int(rid))
            if _session().scalar(stmt) is not None:
                errors["key"] = f"В воронке «{pipeline.name}» уже есть этап с ключом «{key}»"
        if not (v.name or "").strip():
            errors["name"] = "Укажите название этапа"
        if (v.kind or "") not in STAGE_KIND_LABELS:
            errors["kind"] = "Тип этапа: в работе, успешно или провал"
        if deadline_error(v.deadline):
            errors["deadline"] = deadline_error(v.deadline)
        if v.color and not COLOR_RE.match(v.color):
            # It lands in a style attribute of the stage buttons.
            errors["color"] = "Цвет записывается как #rgb или #rrggbb, например #39a8ef"
        return errors

    def __str__(self) -> str:
        return self.name or ""


class CustomFieldDef(AuditedMixin, CheckedMixin, TimestampMixin, Model):
    """A field of a pipeline's records, stored in the record's `custom` JSON by `key`."""

    __tablename__ = "custom_field_def"
    __table_args__ = (UniqueConstraint("pipeline_id", "key", name="uq_custom_field_key"),)
    __entity__ = "custom_field_def"
    __label__ = "Поле воронки"
    __checked_fields__ = ("pipeline", "key", "label", "type", "reference_list")

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    pipeline_id: Mapped[int] = mapped_column(Integer, ForeignKey("pipeline.id", ondelete="CASCADE"),
                                             nullable=False, index=True)
    key: Mapped[str] = mapped_column(String(64), nullable=False)
    label: Mapped[str] = mapped_column(String(200), nullable=False)
    type: Mapped[str] = mapped_column(String(16), nullable=False, default=FieldType.string.value)
    reference_list: Mapped[str | None] = mapped_column(String(64))
    allow_other: Mapped[bool] = mapped_column(Boolean, default=False, nullable=False)
    required: Mapped[bool] = mapped_column(Boolean, default=False, nullable=False)
    sort_order: Mapped[int] = mapped_column(Integer, default=100, nullable=False)

    pipeline = relationship(Pipeline, back_populates="fields")

    @property
    def type_label(self) -> str:
        return FIELD_TYPE_LABELS.get(self.type, self.type or "")

    @classmethod
    def check_values(cls, v) -> dict[str, str]:
        errors = {}
        pipeline = v.pipeline
        if pipeline is None:
            errors["pipeline"] = "Выберите воронку"
        key = (v.key or "").strip()
        if not key:
            errors["key"] = "Укажите ключ поля"
        elif not KEY_RE.match(key):
            errors["key"] = "Ключ: латинские буквы, цифры и _, начинается с буквы"
        elif pipeline is not None and pipeline.id is not None:
            rid = _record_id(v)
            stmt = select(cls.id).where(cls.pipeline_id == pipeline.id, cls.key == key)
            if rid is not None:
                stmt = stmt.where(cls.id != int(rid))
            if _session().scalar(stmt) is not None:
                errors["key"] = f"В воронке «{pipeline.name}» уже есть поле с ключом «{key}»"
        if not (v.label or "").strip():
            errors["label"] = "Укажите подпись поля"
        if (v.type or "") not in FIELD_TYPE_LABELS:
            errors["type"] = "Выберите тип поля"
        ref = (v.reference_list or "").strip()
        if v.type == FieldType.choice.value:
            if not ref:
                errors["reference_list"] = "Для поля-выбора укажите код справочника"
            elif _session().scalar(select(ReferenceList.id)
                                   .where(ReferenceList.code == ref)) is None:
                errors["reference_list"] = f"Справочника с кодом «{ref}» нет"
        return errors

    def value_error(self, value) -> str | None:
        """Russian message when `value` (as stored in JSON) does not fit the field's type."""
        if value is None or value == "":
            return f"Заполните поле «{self.label}»" if self.required else None
        kind = self.type
        try:
            if kind in (FieldType.string.value, FieldType.text.value):
                if not isinstance(value, str):
                    raise ValueError
            elif kind in (FieldType.integer.value, FieldType.user.value,
                          FieldType.contact.value, FieldType.file.value):
                if isinstance(value, bool) or int(value) != value:
                    raise ValueError
            elif kind in (FieldType.money.value, FieldType.percent.value):
                if isinstance(value, bool):
                    raise ValueError
                number = Decimal(str(value))
                if kind == FieldType.percent.value and not 0 <= number <= 100:
                    return f"«{self.label}»: процент от 0 до 100"
                if kind == FieldType.money.value and number < 0:
                    return f"«{self.label}»: сумма не может быть отрицательной"
            elif kind == FieldType.date.value:
                dt.date.fromisoformat(str(value))
            elif kind == FieldType.datetime.value:
                dt.datetime.fromisoformat(str(value))
            elif kind == FieldType.bool.value:
                if not isinstance(value, bool):
                    raise ValueError
            elif kind == FieldType.choice.value:
                return self._choice_error(value)
        except (ValueError, TypeError, InvalidOperation):
            return f"«{self.label}»: ожидается {FIELD_TYPE_LABELS.get(kind, kind).lower()}"
        return None

    def _choice_error(self, value) -> str | None:
        if not isinstance(value, str):
            return f"«{self.label}»: ожидается код значения справочника"
        item = _session().scalar(select(ReferenceItem).join(ReferenceList).where(
            ReferenceList.code == self.reference_list, ReferenceItem.code == value))
        if item is None:
            if self.allow_other:
                return None
            return f"«{self.label}»: значения «{value}» нет в справочнике"
        return None

    def __str__(self) -> str:
        return self.label or ""


# --- what leads and deals share ------------------------------------------------------------

class PipelineRecordMixin:
    """A record that moves through the stages of a pipeline of `__pipeline_entity__`."""

    __pipeline_entity__: str = ""

    @declared_attr
    def pipeline_id(cls) -> Mapped[int]:
        return mapped_column(Integer, ForeignKey("pipeline.id"), nullable=False, index=True)

    @declared_attr
    def stage_id(cls) -> Mapped[int]:
        return mapped_column(Integer, ForeignKey("stage.id"), nullable=False, index=True)

    @declared_attr
    def stage_entered_at(cls) -> Mapped[dt.datetime | None]:
        return mapped_column(DateTime, nullable=True)

    @declared_attr
    def custom(cls) -> Mapped[dict | None]:
        # Values of the pipeline's custom fields by key: no schema migration per field.
        return mapped_column(JSON, nullable=True)

    @declared_attr
    def pipeline(cls):
        return relationship(Pipeline, foreign_keys=[cls.pipeline_id])

    @declared_attr
    def stage(cls):
        return relationship(Stage, foreign_keys=[cls.stage_id])

    def on_stage_entered(self, now: dt.datetime, inserting: bool) -> None:
        """Called in the flush that puts the record on a stage; models add their effects."""

    # --- checks -----------------------------------------------------------------------
    @classmethod
    def pipeline_errors(cls, v) -> dict[str, str]:
        errors = {}
        pipeline, stage = v.pipeline, v.stage
        if pipeline is None:
            errors["pipeline"] = "Выберите воронку"
        elif pipeline.entity != cls.__pipeline_entity__:
            errors["pipeline"] = (f"Воронка «{pipeline.name}» не для раздела "
                                  f"«{PIPELINE_ENTITY_LABELS[cls.__pipeline_entity__]}»")
        if stage is None:
            errors["stage"] = "Выберите этап"
        elif pipeline is not None and stage.pipeline_id != pipeline.id:
            errors["stage"] = (f"Этап «{stage.name}» не относится к воронке "
                               f"«{pipeline.name}»")
        return errors

    @classmethod
    def custom_errors(cls, v) -> dict[str, str]:
        custom = v.custom
        pipeline = v.pipeline
        if custom in (None, ""):
            custom = {}
        if not isinstance(custom, dict):
            return {"custom": "Дополнительные поля: ожидается объект вида {\"ключ\": значение}"}
        if pipeline is None:
            return {}
        defs = {f.key: f for f in pipeline.fields}
        unknown = sorted(set(custom) - set(defs))
        if unknown:
            return {"custom": f"В воронке «{pipeline.name}» нет полей: {', '.join(unknown)}"}
        messages = [msg for key, fdef in defs.items()
                    if (msg := fdef.value_error(custom.get(key)))]
        if not messages:
            messages = cls._reference_problems(v, defs, custom)
        return {"custom": "; ".join(messages)} if messages else {}

    @classmethod
    def _reference_problems(cls, v, defs, custom) -> list[str]:
        """A file field takes only a file attached to this very record; a user or contact
        field only one that exists. "Not found" is all the message says, whoever's it is."""
        session = _session()
        out = []
        for key, fdef in defs.items():
            value = custom.get(key)
            if value in (None, "") or fdef.type not in ("file", "user", "contact"):
                continue
            if fdef.type == "file":
                record_id = getattr(v, "id", None)
                found = record_id is not None and session.scalar(select(Attachment.id).where(
                    Attachment.id == int(value), Attachment.entity == cls.__entity__,
                    Attachment.record_id == record_id)) is not None
                if not found:
                    out.append(f"«{fdef.label}»: файл № {value} не найден среди файлов "
                               "этой записи")
                continue
            model = CrmUser if fdef.type == "user" else Contact
            if session.get(model, int(value)) is None:
                out.append(f"«{fdef.label}»: запись № {value} не найдена")
        return out

    @staticmethod
    def reference_errors(v, field: str, list_code: str, list_name: str) -> dict[str, str]:
        """The item must be of the right list; a new choice must be an active item (an
        inactive one stays only on the records that already hold it)."""
        item = getattr(v, field)
        if item is None:
            return {}
        if item.list is None or item.list.code != list_code:
            return {field: f"Выберите значение из справочника «{list_name}»"}
        if not item.active and _reference_newly_chosen(v, field):
            return {field: f"Значение «{item.label}» больше не используется, выберите другое"}
        return {}

    # Set by a list page that read the marks of all its rows at once.
    known_open_task: bool | None = None

    @property
    def has_open_task(self) -> bool | None:
        """Lists mark a record without an open task ("Нет задач"); None for a record at a
        won or lost stage, which owes nobody a task."""
        stage = self.stage
        if stage is not None and stage.kind != StageKind.open.value:
            return None
        if self.known_open_task is not None:
            return self.known_open_task
        if self.id is None:
            return False
        return bool(session_of(self).scalar(select(open_task_exists(self.__entity__,
                                                                    self.id))))

    @property
    def custom_display(self) -> str:
        """The custom fields as "Подпись: значение" lines, in the pipeline's order."""
        values = self.custom or {}
        if not self.pipeline:
            return ""
        lines = []
        for fdef in self.pipeline.fields:
            value = values.get(fdef.key)
            if value in (None, ""):
                continue
            if isinstance(value, bool):
                value = "да" if value else "нет"
            lines.append(f"{fdef.label}: {value}")
        return "; ".join(lines)


def _reference_newly_chosen(v, field: str) -> bool:
    """True for a form (it always submits a choice) unless the record held that item already;
    for a model instance, when the relationship was set in this unit of work."""
    try:
        state = sa_inspect(v)
    except Exception:
        state = None
    if state is None or not hasattr(state, "attrs"):
        # A form: the select already offers the held item only to the record holding it.
        return False
    if state.transient or state.pending:
        return True
    hist = state.attrs[field].history
    return bool(hist.added) and hist.added[0] is not (hist.deleted[0] if hist.deleted
                                                       else None)


def _stage_changed(target) -> bool:
    state = sa_inspect(target)
    for attr in ("stage", "stage_id"):
        hist = state.attrs[attr].history
        if hist.added and hist.deleted:
            old, new = hist.deleted[0], hist.added[0]
            if attr == "stage":
                old = getattr(old, "id", old)
                new = getattr(new, "id", new)
            if old != new:
                return True
    return False


def _default_responsible(target) -> None:
    # A record nobody answers for would vanish from its author's list at once: whoever
    # saves it without a responsible becomes the responsible.
    if getattr(target, "responsible_id", "absent") is None and \
            getattr(target, "responsible", None) is None:
        target.responsible_id = current_actor_id()


def _on_insert(_mapper, _connection, target) -> None:
    now = utcnow()
    if target.stage_entered_at is None:
        target.stage_entered_at = now
    _default_responsible(target)
    target.on_stage_entered(now, inserting=True)


def _on_update(_mapper, _connection, target) -> None:
    _default_responsible(target)
    if _stage_changed(target):
        now = utcnow()
        target.stage_entered_at = now
        target.on_stage_entered(now, inserting=False)


def install_stage_tracking(model) -> None:
    """Keeps `stage_entered_at` (and the model's own stage effects) in step with the stage.
    The process engine's transition service takes over the moves; this is the safety net."""
    event.listen(model, "before_insert", _on_insert)
    event.listen(model, "before_update", _on_update)


def session_of(obj):
    return object_session(obj) or _session()
