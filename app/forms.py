"""Form fields and validators shared by the generated screens."""
from __future__ import annotations

import datetime as dt

from markupsafe import Markup, escape
from wtforms import Field
from wtforms.validators import ValidationError

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
    """Form data seen as attributes, so a model's `check()` runs on a form before a save."""

    def __init__(self, form):
        self._form = form

    def __getattr__(self, name):
        field = self._form._fields.get(name)
        return field.data if field is not None else None


def model_check_validator(model):
    """A WTForms validator that shows the model's own check message at the field."""

    def validate(form, field):
        errors = model.check_values(_FormValues(form))
        if field.name in errors:
            raise ValidationError(errors[field.name])

    return validate
