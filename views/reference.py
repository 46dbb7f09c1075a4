"""Reference lists: admin screens, the REST API, and the form helper every view uses to offer
a list's items (active ones on new records, the held one kept on old records)."""
from __future__ import annotations

from flask import request
from flask_appbuilder.fields import QuerySelectField
from flask_appbuilder.fieldwidgets import Select2Widget
from flask_appbuilder.models.filters import BaseFilter
from flask_appbuilder.models.sqla.interface import SQLAInterface
from sqlalchemy import exists, func, select
from wtforms import BooleanField
from wtforms.validators import ValidationError

from app.extensions import db
from errors import CrmError, FieldErrors
from models.base import Model
from models.labels import REFERENCE_ITEM_LABELS, REFERENCE_LIST_LABELS
from models.reference import ReferenceItem, ReferenceList, choice_query
from views.base import CrmModelRestApi, CrmModelView, register

INACTIVE_MESSAGE = "Значение «{label}» больше не используется: выберите другое"


# --- the helper for other views --------------------------------------------------------------

class ReferenceSelectField(QuerySelectField):
    """A select of one reference list. New records are offered the active items only; a
    record that already holds an item that was deactivated since keeps it (it is offered
    on the record's edit form and accepted when saved unchanged).

    `model`/`column`: the record class and its FK column (e.g. Order, "source_id"), so that
    a POST of the edit form, which carries no object, can read what the record holds."""

    def __init__(self, label=None, validators=None, list_code: str = "", model=None,
                 column: str | None = None, required: bool = False, **kwargs):
        kwargs.setdefault("widget", Select2Widget())
        super().__init__(label, validators, query_func=self._choices,
                         get_pk_func=lambda item: item.id, allow_blank=not required,
                         blank_text="", **kwargs)
        self.list_code = list_code
        self.record_model = model
        self.record_column = column

    def _held_id(self) -> int | None:
        held = self.object_data
        if isinstance(held, ReferenceItem):
            return held.id
        if self.record_model is None or not self.record_column:
            return None
        pk = (request.view_args or {}).get("pk") if request else None
        if pk in (None, ""):
            return None
        record = db.session.get(self.record_model, pk)
        return getattr(record, self.record_column, None) if record is not None else None

    def _choices(self):
        return db.session.scalars(choice_query(self.list_code, self._held_id())).all()

    def pre_validate(self, form):
        # The base message is English ("Not a valid choice"): say what is wrong, in Russian.
        data = self.data
        if data is None:
            if self._formdata:
                item = _item_by_pk(self._formdata)
                if item is not None and item.list is not None and \
                        item.list.code == self.list_code and not item.active:
                    raise ValidationError(INACTIVE_MESSAGE.format(label=item.label))
                raise ValidationError("Выберите значение из списка")
            if not self.allow_blank:
                raise ValidationError("Выберите значение из списка")


def _item_by_pk(pk) -> ReferenceItem | None:
    try:
        return db.session.get(ReferenceItem, int(pk))
    except (TypeError, ValueError):
        return None


def reference_field(list_code: str, label: str, model=None, column: str | None = None,
                    required: bool = False, validators=None) -> ReferenceSelectField:
    """A form field for `add_form_extra_fields`/`edit_form_extra_fields`, e.g.
    `reference_field("lead_source", "Источник", model=Order, column="source_id")`."""
    return ReferenceSelectField(label, validators=list(validators or []), list_code=list_code,
                                model=model, column=column, required=required)


class ActiveReferenceFilter(BaseFilter):
    """For FAB's `add_form_query_rel_fields`: the active items of the list named by `value`."""

    name = "Активные элементы справочника"
    arg_name = "crm_ref"

    def apply(self, query, value):
        return query.filter(ReferenceItem.list.has(ReferenceList.code == value),
                            ReferenceItem.active.is_(True))


class ReferenceListFilter(BaseFilter):
    """For FAB's `edit_form_query_rel_fields`: every item of the list (edit forms must still show
    an inactive item a record holds; prefer `reference_field`, which shows only that one)."""

    name = "Элементы справочника"
    arg_name = "crm_ref_all"

    def apply(self, query, value):
        return query.filter(ReferenceItem.list.has(ReferenceList.code == value))


def reference_rel_filters(list_code: str, new: bool = True) -> list:
    """FAB `query_rel_fields` filters of a relation to ReferenceItem, e.g.
    `add_form_query_rel_fields = {"source": reference_rel_filters("lead_source")}`."""
    flt = ActiveReferenceFilter if new else ReferenceListFilter
    return [["id", flt, list_code]]


def check_reference_choice(item: ReferenceItem | None, list_code: str,
                           held_id: int | None = None) -> str | None:
    """The Russian message when `item` may not be chosen on a record (API paths)."""
    if item is None:
        return None
    if item.list is not None and item.list.code != list_code:
        return "Значение не из нужного справочника"
    if not item.active and item.id != held_id:
        return INACTIVE_MESSAGE.format(label=item.label)
    return None


# --- usage: an item a record holds is never deleted ------------------------------------------

def reference_usage(item: ReferenceItem) -> int:
    """How many business records point at the item (through any FK to reference_item)."""
    total = 0
    for table in Model.metadata.sorted_tables:
        for fk in table.foreign_keys:
            if fk.column.table.name == ReferenceItem.__tablename__ and table.name != \
                    ReferenceItem.__tablename__:
                total += db.session.scalar(
                    select(func.count()).select_from(table).where(fk.parent == item.id)) or 0
    return total


def code_taken(list_id: int | None, code: str | None, exclude_id: int | None = None) -> bool:
    if not list_id or not (code or "").strip():
        return False
    stmt = select(ReferenceItem.id).where(ReferenceItem.list_id == list_id,
                                          ReferenceItem.code == code.strip())
    if exclude_id is not None:
        stmt = stmt.where(ReferenceItem.id != exclude_id)
    with db.session.no_autoflush:
        return db.session.scalar(select(exists(stmt))) or False


CODE_TAKEN = "Код «{code}» уже есть в этом справочнике"
CODE_FORMAT = "Код: латинские буквы, цифры, _ и -"
ITEM_IN_USE = ("Элемент «{label}» используется в записях ({count}): его нельзя удалить. "
               "Снимите флажок «Активен», и он перестанет предлагаться в новых записях.")
LIST_DELETE = ("Справочник удалить нельзя: на него ссылаются процессы. "
               "Отключите ненужные элементы.")


def _code_latin(form, field):
    # The model accepts any letters; codes are keys in YAML definitions: Latin only.
    code = (field.data or "").strip()
    if code and all(ch.isalnum() or ch in "_-" for ch in code) and not code.isascii():
        raise ValidationError(CODE_FORMAT)


def _code_unique(form, field):
    ref = getattr(form, "list", None)
    ref_obj = ref.data if ref is not None else None
    if ref_obj is not None and code_taken(ref_obj.id, field.data, getattr(form, "_id", None)):
        raise ValidationError(CODE_TAKEN.format(code=(field.data or "").strip()))


def _guard_item_delete(item: ReferenceItem) -> None:
    count = reference_usage(item)
    if count:
        raise CrmError(ITEM_IN_USE.format(label=item.label, count=count))


# --- screens ---------------------------------------------------------------------------------

ITEM_LABELS = REFERENCE_ITEM_LABELS


class ReferenceItemView(CrmModelView):
    datamodel = SQLAInterface(ReferenceItem)
    resource = "reference"
    titles = ("Элементы справочников", "Элемент справочника", "Новый элемент справочника",
              "Изменение элемента справочника")
    label_columns = ITEM_LABELS
    list_columns = ["list", "label", "code", "sort_order", "active", "is_other"]
    show_columns = ["list", "label", "code", "sort_order", "active", "is_other", "created_at",
                    "updated_at"]
    add_columns = ["list", "label", "code", "sort_order", "active", "is_other"]
    # The code is the stable key processes and the seed use: it is fixed once created.
    edit_columns = ["label", "sort_order", "active", "is_other"]
    search_columns = ["list", "label", "code", "active", "is_other"]
    order_columns = ["label", "code", "sort_order", "active"]
    base_order = ("sort_order", "asc")
    validators_columns = {"code": [_code_latin, _code_unique]}
    # Ticked on a new item (the base's checkboxes start unticked).
    add_form_extra_fields = edit_form_extra_fields = {
        "active": BooleanField("Активен", default=True)}
    description_columns = {
        "code": "Латинские буквы, цифры, _ и -; после создания не меняется",
        "active": "Неактивные значения остаются в старых записях, но не предлагаются в новых",
        "is_other": "При выборе значения пользователь поясняет его своими словами",
    }

    def pre_delete(self, item):
        _guard_item_delete(item)


class ReferenceListView(CrmModelView):
    datamodel = SQLAInterface(ReferenceList)
    resource = "reference"
    titles = ("Справочники", "Справочник", "Новый справочник", "Изменение справочника")
    label_columns = REFERENCE_LIST_LABELS
    list_columns = ["name", "code", "allow_other"]
    show_columns = ["name", "code", "allow_other"]
    add_columns = ["name", "code", "allow_other"]
    edit_columns = ["name", "allow_other"]
    search_columns = ["name", "code"]
    order_columns = ["name", "code"]
    base_order = ("name", "asc")
    related_views = [ReferenceItemView]
    validators_columns = {"code": [lambda form, field: _list_code_check(form, field)]}

    def pre_delete(self, item):
        raise CrmError(LIST_DELETE)


def _list_code_check(form, field):
    code = (field.data or "").strip()
    if not code:
        raise ValidationError("Укажите код")
    if not all(ch.isascii() and (ch.isalnum() or ch in "_-") for ch in code):
        raise ValidationError(CODE_FORMAT)
    with db.session.no_autoflush:
        if db.session.scalar(select(ReferenceList.id).where(ReferenceList.code == code)):
            raise ValidationError(f"Справочник с кодом «{code}» уже есть")


# --- REST API --------------------------------------------------------------------------------

class ReferenceItemApi(CrmModelRestApi):
    resource_name = "reference_item"
    resource = "reference"
    datamodel = SQLAInterface(ReferenceItem)
    list_columns = ["id", "list.id", "list.code", "code", "label", "sort_order", "active",
                    "is_other"]
    show_columns = ["id", "list.id", "list.code", "list.name", "code", "label", "sort_order",
                    "active", "is_other", "created_at", "updated_at"]
    add_columns = ["list", "code", "label", "sort_order", "active", "is_other"]
    edit_columns = ["label", "sort_order", "active", "is_other"]
    order_columns = ["id", "code", "label", "sort_order"]
    base_order = ("sort_order", "asc")

    def pre_add(self, item):
        super().pre_add(item)
        if item.list is None:
            raise FieldErrors({"list": "Укажите справочник"})
        if not (item.code or "").strip().isascii():
            raise FieldErrors({"code": CODE_FORMAT})
        if code_taken(item.list.id, item.code):
            raise FieldErrors({"code": CODE_TAKEN.format(code=item.code.strip())})

    def pre_delete(self, item):
        _guard_item_delete(item)


class ReferenceListApi(CrmModelRestApi):
    resource_name = "reference_list"
    resource = "reference"
    datamodel = SQLAInterface(ReferenceList)
    list_columns = ["id", "code", "name", "allow_other"]
    show_columns = ["id", "code", "name", "allow_other", "created_at", "updated_at"]
    add_columns = ["code", "name", "allow_other"]
    edit_columns = ["name", "allow_other"]

    def pre_add(self, item):
        super().pre_add(item)
        code = (item.code or "").strip()
        if not code or not all(ch.isascii() and (ch.isalnum() or ch in "_-") for ch in code):
            raise FieldErrors({"code": CODE_FORMAT})
        if not (item.name or "").strip():
            raise FieldErrors({"name": "Укажите наименование"})
        with db.session.no_autoflush:
            if db.session.scalar(select(ReferenceList.id).where(ReferenceList.code == code)):
                raise FieldErrors({"code": f"Справочник с кодом «{code}» уже есть"})

    def pre_delete(self, item):
        raise CrmError(LIST_DELETE)


def register_views(appbuilder):
    register(appbuilder, ReferenceListView, "Списки значений", "Справочники",
             icon="fa-list-ul", api=ReferenceListApi, category_icon="fa-book")
    register(appbuilder, ReferenceItemView, "Элементы справочников", "Справочники",
             icon="fa-list-ol", api=ReferenceItemApi)
