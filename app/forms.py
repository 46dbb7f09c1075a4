"""Form fields and validators shared by the generated screens."""
from __future__ import annotations

import datetime as dt

from flask_appbuilder import fields as fab_fields
from markupsafe import Markup, escape
from wtforms import Field, HiddenField
from wtforms.validators import ValidationError

from app.extensions import db
from app.formatting import to_local, to_utc

DATETIME_INPUT_FORMATS = ("%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%d.%m.%Y %H:%M",
                          "%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M")
DATE_INPUT_FORMATS = ("%Y-%m-%d", "%d.%m.%Y")


class _HtmlInput:
    def __init__(self, input_type: str):
        self.input_type = input_type

    def __call__(self, field, **kwargs):
        kwargs.setdefault("id", field.id)
        kwargs.setdefault("class", "form-control")
        attrs = " ".join(f'{k.replace("_", "-")}="{escape(v)}"' for k, v in kwargs.items()
                         if k != "class_")
        return Markup(f'<input type="{self.input_type}" name="{escape(field.name)}" '
                      f'value="{escape(field._value())}" {attrs}>')


class _LocalField(Field):
    formats: tuple[str, ...] = ()
    empty_message = "Обязательное поле"
    bad_message = ""

    def __init__(self, label=None, validators=None, optional=True, **kwargs):
        super().__init__(label, validators, **kwargs)
        self.optional = optional
        if not optional:
            self.flags.required = True

    def process_formdata(self, valuelist):
        raw = (valuelist[0] if valuelist else "").strip()
        self.data = None
        if not raw:
            return
        for fmt in self.formats:
            try:
                self.data = self._convert(dt.datetime.strptime(raw, fmt))
                return
            except ValueError:
                continue
        raise ValueError(self.bad_message)

    def pre_validate(self, form):
        if self.data is None and not self.optional and not self.process_errors:
            raise ValidationError(self.empty_message)


class LocalDateTimeField(_LocalField):
    """Shown and typed in the configured time zone, stored as naive UTC."""

    widget = _HtmlInput("datetime-local")
    formats = DATETIME_INPUT_FORMATS
    bad_message = "Неверная дата и время: ожидается ДД.ММ.ГГГГ ЧЧ:ММ"

    def _convert(self, value):
        return to_utc(value)

    def _value(self):
        if self.raw_data:
            return self.raw_data[0]
        return to_local(self.data).strftime("%Y-%m-%dT%H:%M") if self.data else ""


class LocalDateField(_LocalField):
    widget = _HtmlInput("date")
    formats = DATE_INPUT_FORMATS
    bad_message = "Неверная дата: ожидается ДД.ММ.ГГГГ"

    def _convert(self, value):
        return value.date()

    def _value(self):
        if self.raw_data:
            return self.raw_data[0]
        return self.data.isoformat() if self.data else ""


class _FormValues:
    """Form data seen as attributes, so a model's `check()` runs on a form before a save.
    A field the form does not show reads as the record's stored value (edit forms)."""

    def __init__(self, form, fallback=None):
        self._form = form
        self._fallback = fallback

    def __getattr__(self, name):
        field = self._form._fields.get(name)
        if field is not None:
            return field.data
        return getattr(self._fallback, name, None) if self._fallback is not None else None


class VersionField(HiddenField):
    """The record version the user opened; anything but a number counts as stale."""

    def process_formdata(self, valuelist):
        try:
            self.data = int(valuelist[0]) if valuelist and valuelist[0] != "" else None
        except ValueError:
            self.data = -1


def checked_form(form_cls, model):
    """The form class with the model's `check_values` run after the field validators, each
    message shown at its field. FAB's `Optional()` on nullable columns stops a field's own
    validators and would hide a "required when ..." message; a form-level pass does not."""

    class CheckedForm(form_cls):
        def validate(self, extra_validators=None):
            ok = super().validate(extra_validators)
            record = None
            pk = getattr(self, "_id", None)
            if pk is not None:
                with db.session.no_autoflush:
                    record = db.session.get(model, pk)
            for name, message in model.check_values(_FormValues(self, record)).items():
                field = self._fields.get(name)
                if field is None:
                    continue  # not on this form: the save-time check reports it
                if message not in field.errors:
                    field.errors = [*field.errors, message]
                ok = False
            # FAB renders each error through gettext, which %-formats it: "20%" would crash.
            for field in self._fields.values():
                if field.errors and isinstance(field.errors, list):
                    field.errors = [str(e).replace("%", "%%") if "%" in str(e) and "%%"
                                    not in str(e) else e for e in field.errors]
            return ok

    CheckedForm.__name__ = form_cls.__name__
    return CheckedForm


BLANK_CHOICE = "— не выбрано —"


def install_blank_choice_label() -> None:
    """WTForms 3.3 prints an option's value when its label is empty, so FAB's empty choice
    of a relation select shows as "__None". Give it a Russian label (idempotent)."""
    cls = fab_fields.QuerySelectField
    if getattr(cls, "_crm_blank_label", False):
        return
    original = cls.iter_choices

    def iter_choices(self):
        for choice in original(self):
            if choice[0] == "__None" and not choice[1]:
                yield (choice[0], BLANK_CHOICE, *choice[2:])
            else:
                yield choice

    cls.iter_choices = iter_choices
    cls._crm_blank_label = True


def model_check_validator(model):
    """A WTForms validator that shows the model's own check message at the field."""

    def validate(form, field):
        errors = model.check_values(_FormValues(form))
        if field.name in errors:
            raise ValidationError(errors[field.name])

    return validate
