"""Approvals: a route of steps that approvers decide, attached to any record.

An `Approval` is one run of a route on one record; each addressee of a step gets an
`ApprovalStep` row when the step becomes current. Decisions are written on those rows
(who, when, comment), so the history of an approval is its rows in order. The route itself
is copied into the approval when it starts: changing the definition later never changes
what an approval already asked."""
from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import JSON, DateTime, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models.base import Model, utcnow


class ApprovalStatus(str, enum.Enum):
    pending = "pending"
    approved = "approved"
    rejected = "rejected"
    rework = "rework"        # sent back to the author; resubmission starts it again
    cancelled = "cancelled"  # the record left the process, or a new approval replaced it


class StepStatus(str, enum.Enum):
    waiting = "waiting"      # the addressee's decision is expected
    approved = "approved"
    rejected = "rejected"
    rework = "rework"
    delegated = "delegated"  # passed to another person (their row follows)
    skipped = "skipped"      # another addressee of an any-of step decided first
    cancelled = "cancelled"  # the route ended or restarted before this person decided


class Decision(str, enum.Enum):
    approve = "approve"
    reject = "reject"
    rework = "rework"
    delegate = "delegate"


APPROVAL_STATUS_LABELS = {
    ApprovalStatus.pending.value: "На согласовании",
    ApprovalStatus.approved.value: "Согласовано",
    ApprovalStatus.rejected.value: "Отклонено",
    ApprovalStatus.rework.value: "На доработке",
    ApprovalStatus.cancelled.value: "Отменено",
}
STEP_STATUS_LABELS = {
    StepStatus.waiting.value: "Ожидает решения",
    StepStatus.approved.value: "Согласовано",
    StepStatus.rejected.value: "Отклонено",
    StepStatus.rework.value: "На доработку",
    StepStatus.delegated.value: "Делегировано",
    StepStatus.skipped.value: "Решено другим согласующим",
    StepStatus.cancelled.value: "Снято",
}
DECISION_LABELS = {
    Decision.approve.value: "Согласовать",
    Decision.reject.value: "Отклонить",
    Decision.rework.value: "На доработку",
    Decision.delegate.value: "Делегировать",
}
MODE_LABELS = {"one": "один согласующий", "all": "все согласующие",
               "any": "любой из согласующих"}


class Approval(Model):
    __tablename__ = "approval"
    __entity__ = "approval"
    __label__ = "Согласование"
    __choice_labels__ = {"status": APPROVAL_STATUS_LABELS}

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    title: Mapped[str] = mapped_column(String(300), nullable=False)
    entity: Mapped[str] = mapped_column(String(32), nullable=False)
    record_id: Mapped[int] = mapped_column(Integer, nullable=False)
    process_key: Mapped[str] = mapped_column(String(64), nullable=False)
    rule_key: Mapped[str] = mapped_column(String(500), nullable=False)
    # The definition's named route, if any: starting the same route again on the record
    # resubmits an approval returned for rework instead of starting a second one.
    route_name: Mapped[str | None] = mapped_column(String(64))
    # The effect that started it: the same move or job applied twice starts one approval.
    effect_key: Mapped[str] = mapped_column(String(200), unique=True, nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False,
                                        default=ApprovalStatus.pending.value)
    # The route as it was when the approval started: {steps: [...], rework: ...}.
    route: Mapped[dict] = mapped_column(JSON, nullable=False)
    step_index: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    # Each restart (rework resubmitted, covered fields changed) is a new round: the rows of
    # an old round stay as history.
    round: Mapped[int] = mapped_column(Integer, nullable=False, default=1)
    requester_id: Mapped[int | None] = mapped_column(Integer, ForeignKey("ab_user.id"),
                                                     index=True)
    # The values the approvers are asked about (amount, line items, the file): a change
    # after the start restarts the route.
    covered: Mapped[dict | None] = mapped_column(JSON)
    # People picked when the approval started ({chosen: role} approvers): {step index: id}.
    chosen: Mapped[dict | None] = mapped_column(JSON)
    result_comment: Mapped[str | None] = mapped_column(Text)
    started_at: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False, default=utcnow)
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    # Every decision counts here, so each one UPDATEs the row and SQLAlchemy checks
    # `version`: of two approvers deciding an any-of step at the same moment, one counts.
    decisions: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)

    requester = relationship("CrmUser", foreign_keys=[requester_id])
    steps = relationship("ApprovalStep", back_populates="approval",
                         order_by="ApprovalStep.id", cascade="all, delete-orphan")

    __mapper_args__ = {"version_id_col": version}
    __table_args__ = (Index("ix_approval_record", "entity", "record_id", "status"),)

    def __str__(self) -> str:
        return self.title

    @property
    def status_label(self) -> str:
        return APPROVAL_STATUS_LABELS.get(self.status, self.status)

    @property
    def step_names(self) -> list[str]:
        return [s.get("name") or f"Шаг {i + 1}" for i, s in enumerate(self.route["steps"])]

    @property
    def current_step_name(self) -> str:
        names = self.step_names
        return names[self.step_index] if 0 <= self.step_index < len(names) else ""


class ApprovalStep(Model):
    """One addressee of one step of one round, and their decision."""

    __tablename__ = "approval_step"
    __entity__ = "approval_step"
    __label__ = "Решение по согласованию"
    __choice_labels__ = {"status": STEP_STATUS_LABELS}

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    approval_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("approval.id", ondelete="CASCADE"), nullable=False, index=True)
    round: Mapped[int] = mapped_column(Integer, nullable=False, default=1)
    step_index: Mapped[int] = mapped_column(Integer, nullable=False)
    step_name: Mapped[str] = mapped_column(String(200), nullable=False)
    mode: Mapped[str] = mapped_column(String(8), nullable=False, default="one")
    user_id: Mapped[int] = mapped_column(Integer, ForeignKey("ab_user.id"), nullable=False)
    # Whom the step named, when this row went to someone else (a delegation, an absence,
    # an escalation); `route_note` says why, in words.
    original_user_id: Mapped[int | None] = mapped_column(Integer, ForeignKey("ab_user.id"))
    route_note: Mapped[str | None] = mapped_column(String(500))
    status: Mapped[str] = mapped_column(String(16), nullable=False,
                                        default=StepStatus.waiting.value)
    decided_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    decided_by_id: Mapped[int | None] = mapped_column(Integer, ForeignKey("ab_user.id"))
    comment: Mapped[str | None] = mapped_column(Text)
    delegated_to_id: Mapped[int | None] = mapped_column(Integer, ForeignKey("ab_user.id"))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False, default=utcnow)
    due_at: Mapped[dt.datetime | None] = mapped_column(DateTime)

    approval = relationship(Approval, back_populates="steps")
    user = relationship("CrmUser", foreign_keys=[user_id])
    original_user = relationship("CrmUser", foreign_keys=[original_user_id])
    decided_by = relationship("CrmUser", foreign_keys=[decided_by_id])
    delegated_to = relationship("CrmUser", foreign_keys=[delegated_to_id])

    # The inbox: my rows waiting for a decision, newest first; the index answers it alone.
    __table_args__ = (Index("ix_approval_step_inbox", "user_id", "status", "id"),)

    @property
    def status_label(self) -> str:
        return STEP_STATUS_LABELS.get(self.status, self.status)

    @property
    def is_waiting(self) -> bool:
        return self.status == StepStatus.waiting.value
