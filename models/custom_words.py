"""Custom field values of a lead or deal (its `custom` JSON) told in words: the labels and
types come from the pipeline's fields (an installed definition writes them there)."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from sqlalchemy import select

from app.formatting import format_money
from models.attachment import Attachment
from models.party import Contact
from models.pipeline import CustomFieldDef
from models.reference import ReferenceItem, ReferenceList
from models.user import CrmUser

EMPTY = "—"


@dataclass(frozen=True)
class FieldSpec:
    label: str
    type: str = "string"
    list: str | None = None


def is_empty(value) -> bool:
    return value is None or value == "" or value == [] or value == {}


def field_specs(pipeline_id, session) -> dict[str, FieldSpec]:
    """{key: FieldSpec} of the pipeline's custom fields, in the definition's order."""
    if not pipeline_id:
        return {}
    # The pipeline's fields are the installed definition's (process.catalog syncs them).
    specs: dict[str, FieldSpec] = {}
    rows = session.scalars(select(CustomFieldDef).where(
        CustomFieldDef.pipeline_id == int(pipeline_id))
        .order_by(CustomFieldDef.sort_order, CustomFieldDef.id)).all()
    for row in rows:
        specs.setdefault(row.key, FieldSpec(row.label, row.type, row.reference_list))
    return specs


def value_words(spec: FieldSpec | None, value, session) -> str:
    if is_empty(value):
        return EMPTY
    if isinstance(value, list):
        return ", ".join(value_words(spec, v, session) for v in value)
    if isinstance(value, dict):
        return "; ".join(f"{k}: {value_words(None, v, session)}" for k, v in value.items())
    kind = spec.type if spec else ""
    if isinstance(value, bool) or kind == "bool":
        return "Да" if value else "Нет"
    try:
        return _typed_words(spec, kind, value, session)
    except (ValueError, TypeError, ArithmeticError, InvalidOperation):
        return str(value)  # an odd stored value is shown as it is rather than hidden


def _typed_words(spec, kind: str, value, session) -> str:
    if kind == "date":
        return dt.date.fromisoformat(str(value)[:10]).strftime("%d.%m.%Y")
    if kind == "datetime":
        # The form stores the local time as typed: no zone to convert.
        return dt.datetime.fromisoformat(str(value)).strftime("%d.%m.%Y %H:%M")
    if kind == "money":
        return format_money(Decimal(str(value)))
    if kind == "percent":
        return f"{str(value).replace('.', ',')} %"
    if kind == "choice":
        return _choice_label(spec.list, value, session) or str(value)
    if kind in ("user", "contact", "file"):
        return _linked(kind, value, session)
    return str(value)


def _choice_label(list_code, value, session) -> str | None:
    if not list_code:
        return None
    return session.scalar(select(ReferenceItem.label).join(ReferenceList).where(
        ReferenceList.code == list_code, ReferenceItem.code == str(value)))


def _linked(kind: str, value, session) -> str:
    model = {"user": CrmUser, "contact": Contact, "file": Attachment}[kind]
    with session.no_autoflush:
        obj = session.get(model, int(value))
    if obj is None:
        return f"№{value} (удалено)"
    return obj.filename if kind == "file" else str(obj)


def _unset_checkbox(spec: FieldSpec | None, old, new) -> bool:
    """An unticked checkbox saved for the first time: the form cannot say "not set", so an
    empty → «Нет» is no change a person made."""
    return spec is not None and spec.type == "bool" and is_empty(old) and new is False


def custom_changes(specs: dict[str, FieldSpec], old, new, session) -> list[str]:
    """["Приоритет: — → A — высокий", ...] for each key whose value changed."""
    old = old if isinstance(old, dict) else {}
    new = new if isinstance(new, dict) else {}
    keys = [k for k in specs if k in old or k in new]
    keys += sorted(k for k in set(old) | set(new) if k not in specs)
    out = []
    for key in keys:
        a, b = old.get(key), new.get(key)
        spec = specs.get(key)
        if (is_empty(a) and is_empty(b)) or a == b or _unset_checkbox(spec, a, b):
            continue
        label = spec.label if spec else key
        out.append(f"{label}: {value_words(spec, a, session)} → {value_words(spec, b, session)}")
    return out


def custom_values(specs: dict[str, FieldSpec], values, session) -> list[str]:
    """["Приоритет: A — высокий", ...] for each filled value (a record created or deleted)."""
    values = values if isinstance(values, dict) else {}
    keys = [k for k in specs if k in values] + sorted(k for k in values if k not in specs)
    out = []
    for key in keys:
        spec, value = specs.get(key), values[key]
        if is_empty(value) or _unset_checkbox(spec, None, value):
            continue
        out.append(f"{spec.label if spec else key}: {value_words(spec, value, session)}")
    return out
