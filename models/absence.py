"""Absences of employees (vacations, sick leaves, days off, work from home) and the yearly
leave balances. What follows from them (vacation days, who substitutes whom, what remains,
who may know why a person is away) is in process/absence.py."""
from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import Date, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.formatting import format_date
from models.base import AuditedMixin, CheckedMixin, Model, TimestampMixin, VersionedMixin
from models.registry import entity_label


class AbsenceKind(str, enum.Enum):
    vacation = "vacation"
    unpaid = "unpaid"
    sick = "sick"
    remote = "remote"
    day_off = "day_off"


ABSENCE_KIND_LABELS = {
    AbsenceKind.vacation.value: "Отпуск",
    AbsenceKind.unpaid.value: "Отгул за свой счёт",
    AbsenceKind.sick.value: "Больничный",
    AbsenceKind.remote.value: "Работа из дома",
    AbsenceKind.day_off.value: "Отгул",
}
# Who works from home still works: approvals and tasks stay with them. The other kinds take
# the person away.
AWAY_KINDS = tuple(k for k in ABSENCE_KIND_LABELS if k != AbsenceKind.remote.value)
# Two absences of one person may overlap (a sick leave during a vacation): the day shows the
# first of these kinds.
KIND_PRIORITY = (AbsenceKind.sick.value, AbsenceKind.vacation.value, AbsenceKind.unpaid.value,
                 AbsenceKind.day_off.value, AbsenceKind.remote.value)
# What a sick day shows to those who may not know why the person is away.
ABSENT_LABEL = "Отсутствует"

# A date outside these years is a typo.
YEARS = (2000, 2100)
# Labour Code art. 115: 28 calendar days a year.
DEFAULT_DAYS_PER_YEAR = 28
# Bounds of the balance's numbers: a year has no more days; unused days may pile up for
# years, and a correction may take them back.
MAX_DAYS_PER_YEAR = 366
MAX_CARRIED_OVER = 999


class Absence(AuditedMixin, CheckedMixin, TimestampMixin, VersionedMixin, Model):
    """A person away from date_from to date_to, both days included. `source_entity` and
    `source_id` name the request that created it (one absence per request); an absence the
    accountant enters by hand has none."""

    __tablename__ = "absence"
    __table_args__ = (
        UniqueConstraint("source_entity", "source_id", name="uq_absence_source"),
        # Is this person away on that day (approvals), and who is away this month (calendar).
        Index("ix_absence_user_dates", "user_id", "date_from", "date_to"),
        Index("ix_absence_date_to", "date_to"),
    )
    __entity__ = "absence"
    __label__ = "Отсутствие"
    __choice_labels__ = {"kind": ABSENCE_KIND_LABELS}
    __checked_fields__ = ("user", "kind", "date_from", "date_to")

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(Integer, ForeignKey("ab_user.id"), nullable=False)
    kind: Mapped[str] = mapped_column(String(16), nullable=False)
    date_from: Mapped[dt.date] = mapped_column(Date, nullable=False)
    date_to: Mapped[dt.date] = mapped_column(Date, nullable=False)
    source_entity: Mapped[str | None] = mapped_column(String(32), nullable=True)
    source_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    comment: Mapped[str | None] = mapped_column(Text, nullable=True)

    user = relationship("CrmUser", foreign_keys=[user_id])
    created_by = relationship("CrmUser", foreign_keys="Absence.created_by_id")

    @property
    def kind_label(self) -> str:
        return ABSENCE_KIND_LABELS.get(self.kind, self.kind or "")

    @property
    def period_label(self) -> str:
        if self.date_from == self.date_to:
            return format_date(self.date_from)
        return f"{format_date(self.date_from)} – {format_date(self.date_to)}"

    @property
    def days(self) -> int:
        """Calendar days, both ends included (vacation days: process.absence)."""
        if not (isinstance(self.date_from, dt.date) and isinstance(self.date_to, dt.date)):
            return 0
        return (self.date_to - self.date_from).days + 1

    @property
    def source_label(self) -> str:
        if not self.source_entity:
            return "Внесено вручную"
        return f"{entity_label(self.source_entity)} № {self.source_id}"

    def covers(self, day: dt.date) -> bool:
        return self.date_from <= day <= self.date_to

    @classmethod
    def check_values(cls, v) -> dict[str, str]:
        errors: dict[str, str] = {}
        if getattr(v, "user", None) is None and getattr(v, "user_id", None) is None:
            errors["user"] = "Укажите сотрудника"
        kind = getattr(v, "kind", None)
        if kind not in ABSENCE_KIND_LABELS:
            errors["kind"] = ("Вид отсутствия: " + ", ".join(
                label.lower() for label in ABSENCE_KIND_LABELS.values()))
        errors.update(period_errors(getattr(v, "date_from", None), getattr(v, "date_to", None)))
        source = (getattr(v, "source_entity", None), getattr(v, "source_id", None))
        if (source[0] is None) != (source[1] is None):
            errors["source_id"] = "Заявка-основание: укажите и тип, и номер, или ничего"
        return errors

    def __str__(self) -> str:
        # The audit log keeps this text: no kind here (a sick leave is not everyone's to know).
        return f"{self.user or ''}, {self.period_label}".strip(", ")


def period_errors(date_from, date_to) -> dict[str, str]:
    """{field: message} for a period that is not two dates in order."""
    errors = {}
    for field, label, value in (("date_from", "Дата начала", date_from),
                                ("date_to", "Дата окончания", date_to)):
        if value is None or value == "":
            errors[field] = f"Укажите: {label.lower()}"
        elif not isinstance(value, dt.date):
            errors[field] = f"{label}: ожидается дата"
        elif not YEARS[0] <= value.year <= YEARS[1]:
            errors[field] = f"{label}: год от {YEARS[0]} до {YEARS[1]}"
    if not errors and date_to < date_from:
        errors["date_to"] = "Дата окончания раньше даты начала"
    return errors


class LeaveBalance(AuditedMixin, CheckedMixin, TimestampMixin, Model):
    """A person's vacation days of one year. No row means the defaults: 28 days, nothing
    carried over, no correction. Days used are counted from the vacations themselves."""

    __tablename__ = "leave_balance"
    __table_args__ = (UniqueConstraint("user_id", "year", name="uq_leave_balance_user_year"),)
    __entity__ = "leave_balance"
    __label__ = "Остаток отпуска"
    __checked_fields__ = ("year", "days_per_year", "carried_over", "adjustment")

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(Integer, ForeignKey("ab_user.id"), nullable=False)
    year: Mapped[int] = mapped_column(Integer, nullable=False)
    days_per_year: Mapped[int] = mapped_column(Integer, nullable=False,
                                               default=DEFAULT_DAYS_PER_YEAR)
    carried_over: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    # A correction by the accountant (days granted or taken back): may be negative.
    adjustment: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    comment: Mapped[str | None] = mapped_column(Text, nullable=True)

    user = relationship("CrmUser", foreign_keys=[user_id])

    @classmethod
    def check_values(cls, v) -> dict[str, str]:
        return balance_errors(getattr(v, "year", None), getattr(v, "days_per_year", None),
                              getattr(v, "carried_over", None), getattr(v, "adjustment", None))

    def __str__(self) -> str:
        return f"{self.user or ''}, {self.year} год".strip(", ")


def balance_errors(year, days_per_year, carried_over, adjustment) -> dict[str, str]:
    """{field: message} for the numbers of a balance: whole days within their bounds."""
    errors = {}
    bounds = {
        "year": ("Год", YEARS[0], YEARS[1]),
        "days_per_year": ("Дней отпуска в году", 0, MAX_DAYS_PER_YEAR),
        "carried_over": ("Перенесено с прошлых лет", 0, MAX_CARRIED_OVER),
        "adjustment": ("Корректировка", -MAX_CARRIED_OVER, MAX_CARRIED_OVER),
    }
    values = {"year": year, "days_per_year": days_per_year, "carried_over": carried_over,
              "adjustment": adjustment}
    for field, (label, low, high) in bounds.items():
        value = values[field]
        if value is None or isinstance(value, bool) or not isinstance(value, int):
            errors[field] = f"{label}: введите целое число"
        elif value < 0 and low == 0:
            errors[field] = f"{label}: не может быть отрицательным"
        elif not low <= value <= high:
            errors[field] = f"{label}: от {low} до {high}"
    return errors
