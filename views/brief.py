"""Briefs: «Настройки → Анкеты» where the admin builds questionnaires from typed questions,
and «Отправить анкету» on a record (the write right on the record): a brief with a copy of
the questions and a client link, optionally e-mailed to the client at once."""
from __future__ import annotations

from flask import flash, request
from flask_appbuilder import BaseView, expose
from flask_appbuilder.models.sqla.interface import SQLAInterface
from wtforms import BooleanField, SelectField, TextAreaField
from wtforms.validators import ValidationError

from app.extensions import db
from errors import CrmError
from models.brief import CHOICE_KINDS, QUESTION_KINDS, Questionnaire, QuestionnaireQuestion
from process import briefs, client_links
from views.base import CrmModelView, register
from views.client_link import (address_to_send, back, signed_in,
                               writable_record)
from views.csrf import check_csrf

RESOURCE = "questionnaire"
QUESTION_LABELS = {"questionnaire": "Анкета", "sort_order": "Порядок", "label": "Вопрос",
                   "kind": "Тип ответа", "required": "Обязательный",
                   "choices": "Варианты ответа", "hint": "Подсказка",
                   "kind_label": "Тип ответа"}
QUESTIONNAIRE_LABELS = {"name": "Название", "intro": "Вступление для клиента",
                        "active": "Действует", "questions": "Вопросы"}


def _choices_needed(form, field):
    kind = getattr(form, "kind", None)
    variants = [c for c in (field.data or "").splitlines() if c.strip()]
    if kind is not None and kind.data in CHOICE_KINDS and len(variants) < 2:
        raise ValidationError("Для выбора из списка укажите не меньше двух вариантов, "
                              "каждый с новой строки")
    if len(variants) > 50:
        raise ValidationError("Не больше 50 вариантов")


def _kind_field():
    return SelectField(QUESTION_LABELS["kind"], choices=list(QUESTION_KINDS.items()),
                       default="text")


def _kind_label(value) -> str:
    return QUESTION_KINDS.get(value, value or "")


class QuestionView(CrmModelView):
    datamodel = SQLAInterface(QuestionnaireQuestion)
    resource = RESOURCE
    titles = ("Вопросы анкет", "Вопрос анкеты", "Новый вопрос анкеты", "Изменение вопроса")
    label_columns = QUESTION_LABELS
    list_columns = ["questionnaire", "sort_order", "label", "kind", "required"]
    show_columns = ["questionnaire", "sort_order", "label", "kind", "required", "choices",
                    "hint"]
    add_columns = edit_columns = ["questionnaire", "sort_order", "label", "kind", "required",
                                  "choices", "hint"]
    search_columns = ["questionnaire", "label", "kind"]
    order_columns = ["sort_order", "label"]
    base_order = ("sort_order", "asc")
    formatters_columns = {"kind": _kind_label}
    add_form_extra_fields = {
        "kind": _kind_field(), "required": BooleanField(QUESTION_LABELS["required"]),
        "choices": TextAreaField(QUESTION_LABELS["choices"], validators=[_choices_needed])}
    edit_form_extra_fields = dict(add_form_extra_fields)
    description_columns = {
        "sort_order": "Вопросы идут по возрастанию порядка",
        "choices": "Для выбора из списка: каждый вариант с новой строки",
        "kind": "Ответ клиента проверяется по типу: число, дата, e-mail, телефон…",
    }


class QuestionnaireView(CrmModelView):
    datamodel = SQLAInterface(Questionnaire)
    resource = RESOURCE
    titles = ("Анкеты", "Анкета", "Новая анкета", "Изменение анкеты")
    label_columns = QUESTIONNAIRE_LABELS
    list_columns = ["name", "active"]
    show_columns = ["name", "intro", "active"]
    add_columns = edit_columns = ["name", "intro", "active"]
    search_columns = ["name", "active"]
    order_columns = ["name"]
    base_order = ("name", "asc")
    related_views = [QuestionView]
    add_form_extra_fields = {"active": BooleanField(QUESTIONNAIRE_LABELS["active"],
                                                    default=True)}
    description_columns = {
        "active": "Только действующие анкеты предлагаются менеджерам; отправленные анкеты "
                  "не меняются, что бы ни стало с вопросами потом",
    }


class BriefSendView(BaseView):
    """«Отправить анкету» from the record page."""

    route_base = "/crm/briefs"
    default_view = "send"

    @expose("/send/<entity>/<int:record_id>", methods=["POST"])
    @signed_in
    def send(self, entity, record_id):
        check_csrf()
        record, view = writable_record(entity, record_id)
        raw = (request.form.get("questionnaire_id") or "").strip()
        questionnaire = db.session.get(Questionnaire, int(raw)) \
            if raw.isascii() and raw.isdigit() and len(raw) < 10 else None
        try:
            if questionnaire is None:
                raise briefs.BriefRefused("Выберите анкету")
            days = client_links.parse_days(request.form.get("days"))
            _brief, link, token = briefs.send(record, entity, questionnaire, days)
            address = address_to_send() if request.form.get("send") else None
            if address:
                client_links.send_by_email(link, token, address)
            db.session.commit()
        except CrmError as exc:
            db.session.rollback()
            flash(exc.message, "danger")
            return back(view, record_id)
        flash(f"Анкета «{questionnaire.name}» готова" + (
            f" и отправлена на {address}" if address
            else ": ссылка на вкладке «Ссылки для клиента» — скопируйте или отправьте её"),
            "success")
        return back(view, record_id)


def register_views(appbuilder):
    register(appbuilder, QuestionnaireView, "Анкеты", "Настройки", icon="fa-question-circle")
    register(appbuilder, QuestionView, "Вопросы анкет", "Настройки", menu=False)
    appbuilder.add_view_no_menu(BriefSendView)


__all__ = ["QuestionnaireView", "QuestionView", "BriefSendView"]
