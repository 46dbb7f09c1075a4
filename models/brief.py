"""Briefs («анкеты»): the questionnaires an admin builds from typed questions, and the
brief a client fills by link. A sent brief keeps a copy of its questions, so editing the
questionnaire later never changes what a client was asked."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import JSON, Boolean, DateTime, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models.base import Model, TimestampMixin, current_actor_id, utcnow

QUESTION_KINDS = {
    "text": "Строка",
    "textarea": "Текст (несколько строк)",
    "number": "Число",
    "date": "Дата",
    "choice": "Один вариант из списка",
    "multichoice": "Несколько вариантов из списка",
    "yesno": "Да / нет",
    "email": "E-mail",
    "phone": "Телефон",
}
CHOICE_KINDS = ("choice", "multichoice")


class Questionnaire(TimestampMixin, Model):
    __tablename__ = "questionnaire"
    __entity__ = "questionnaire"
    __label__ = "Анкета"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    # Shown to the client above the questions.
    intro: Mapped[str | None] = mapped_column(Text)
    active: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)

    questions = relationship("QuestionnaireQuestion", back_populates="questionnaire",
                             order_by="(QuestionnaireQuestion.sort_order, "
                                      "QuestionnaireQuestion.id)",
                             cascade="all, delete-orphan")

    def __str__(self) -> str:
        return self.name


class QuestionnaireQuestion(TimestampMixin, Model):
    __tablename__ = "questionnaire_question"
    __entity__ = "questionnaire_question"
    __label__ = "Вопрос анкеты"
    __choice_labels__ = {"kind": QUESTION_KINDS}

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    questionnaire_id: Mapped[int] = mapped_column(Integer, ForeignKey("questionnaire.id"),
                                                  nullable=False, index=True)
    sort_order: Mapped[int] = mapped_column(Integer, nullable=False, default=10)
    label: Mapped[str] = mapped_column(String(300), nullable=False)
    kind: Mapped[str] = mapped_column(String(16), nullable=False, default="text")
    required: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    # The variants of a choice, one a line.
    choices: Mapped[str | None] = mapped_column(Text)
    hint: Mapped[str | None] = mapped_column(String(300))

    questionnaire = relationship(Questionnaire, back_populates="questions")

    @property
    def choice_list(self) -> list[str]:
        return [c.strip() for c in (self.choices or "").splitlines() if c.strip()]

    def __str__(self) -> str:
        return self.label


class Brief(Model):
    """One questionnaire sent to the client of a record; answered once."""

    __tablename__ = "brief"
    __table_args__ = (Index("ix_brief_record", "entity", "record_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    entity: Mapped[str] = mapped_column(String(32), nullable=False)
    record_id: Mapped[int] = mapped_column(Integer, nullable=False)
    questionnaire_id: Mapped[int | None] = mapped_column(Integer,
                                                         ForeignKey("questionnaire.id"))
    title: Mapped[str] = mapped_column(String(200), nullable=False)
    intro: Mapped[str | None] = mapped_column(Text)
    # [{"key", "label", "kind", "required", "choices", "hint"}] as sent.
    questions: Mapped[object] = mapped_column(JSON, nullable=False, default=list)
    # {key: value}: strings, lists of strings, booleans, ISO dates.
    answers: Mapped[object | None] = mapped_column(JSON)
    submitted_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False, default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(Integer, ForeignKey("ab_user.id"),
                                                      default=current_actor_id)

    questionnaire = relationship(Questionnaire)
    created_by = relationship("CrmUser", foreign_keys=[created_by_id])
