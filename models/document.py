"""Documents rendered from templates: our company's requisites, the admin's template versions,
the yearly number sequences, and the numbered documents of records with their versions.

A `Document` is one numbered paper of a record («Счёт № 123 от 30.11.2026»); each rendering
of it is a `DocumentVersion` (regenerating after the items changed keeps the number and the
older files). A version is requested in the transaction that decided it and rendered by the
`crm-documents` worker after commit; its PDF is stored as an attachment of the record."""
from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import (
    Boolean, Date, DateTime, ForeignKey, Index, Integer, LargeBinary, Numeric, String, Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models.base import Model, current_actor_id, utcnow


class VersionStatus(str, enum.Enum):
    pending = "pending"      # requested; the worker has not rendered it yet
    ready = "ready"          # rendered and attached to the record
    failed = "failed"        # the worker gave up (the error is kept); regenerate to retry


VERSION_STATUS_LABELS = {
    VersionStatus.pending.value: "Формируется…",
    VersionStatus.ready.value: "Готов",
    VersionStatus.failed.value: "Ошибка формирования",
}


class CompanyProfile(Model):
    """Our own requisites, logo, signature and stamp: one row, edited by the admin on
    «Настройки → Реквизиты компании» and printed on every document."""

    __tablename__ = "company_profile"
    __entity__ = "company_profile"
    __label__ = "Реквизиты компании"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(300), nullable=False, default="")
    full_name: Mapped[str | None] = mapped_column(String(500))
    inn: Mapped[str | None] = mapped_column(String(12))
    kpp: Mapped[str | None] = mapped_column(String(9))
    ogrn: Mapped[str | None] = mapped_column(String(15))
    address: Mapped[str | None] = mapped_column(String(500))
    city: Mapped[str | None] = mapped_column(String(100))
    phone: Mapped[str | None] = mapped_column(String(50))
    email: Mapped[str | None] = mapped_column(String(200))
    director: Mapped[str | None] = mapped_column(String(200))
    director_title: Mapped[str | None] = mapped_column(String(200))
    accountant: Mapped[str | None] = mapped_column(String(200))
    bank_name: Mapped[str | None] = mapped_column(String(300))
    bik: Mapped[str | None] = mapped_column(String(9))
    corr_account: Mapped[str | None] = mapped_column(String(20))
    account: Mapped[str | None] = mapped_column(String(20))
    vat_rate: Mapped[str] = mapped_column(String(8), nullable=False, default="22")
    # Small images printed on documents (PNG or JPEG), kept with their content type.
    logo: Mapped[bytes | None] = mapped_column(LargeBinary)
    logo_type: Mapped[str | None] = mapped_column(String(50))
    signature: Mapped[bytes | None] = mapped_column(LargeBinary)
    signature_type: Mapped[str | None] = mapped_column(String(50))
    stamp: Mapped[bytes | None] = mapped_column(LargeBinary)
    stamp_type: Mapped[str | None] = mapped_column(String(50))
    changed_at: Mapped[dt.datetime | None] = mapped_column(DateTime, onupdate=utcnow)

    def __str__(self) -> str:
        return self.name or "Реквизиты компании"


class DocumentTemplate(Model):
    """One version of a template. The versions of a key share it; exactly one of them is
    active. A new version is checked (compiled and rendered on a sample) before it is
    stored, so a broken upload never replaces the active one."""

    __tablename__ = "document_template"
    __entity__ = "document_template"
    __label__ = "Шаблон документа"
    __table_args__ = (UniqueConstraint("key", "version", name="uq_document_template_version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(64), nullable=False, index=True)
    kind: Mapped[str] = mapped_column(String(32), nullable=False, index=True)
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)
    source: Mapped[str] = mapped_column(Text, nullable=False)
    active: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    comment: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False, default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(Integer, ForeignKey("ab_user.id"),
                                                      default=current_actor_id)

    created_by = relationship("CrmUser", foreign_keys=[created_by_id])

    def __str__(self) -> str:
        return f"{self.name} (версия {self.version})"


class DocumentSequence(Model):
    """The last number given to a kind of document in a year. Taken by one UPDATE ...
    RETURNING in the transaction that creates the document: the row stays locked until it
    commits, so numbers are unique, and a rolled-back document gives its number back."""

    __tablename__ = "document_sequence"

    kind: Mapped[str] = mapped_column(String(32), primary_key=True)
    year: Mapped[int] = mapped_column(Integer, primary_key=True)
    last_number: Mapped[int] = mapped_column(Integer, nullable=False, default=0)


class DocumentBatch(Model):
    """Documents requested together (invoices for the deals selected in a list): the page
    of the batch shows how many are ready."""

    __tablename__ = "document_batch"
    __entity__ = "document_batch"
    __label__ = "Пакет документов"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(32), nullable=False)
    template_key: Mapped[str | None] = mapped_column(String(64))
    total: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    requested_by_id: Mapped[int | None] = mapped_column(Integer, ForeignKey("ab_user.id"),
                                                        default=current_actor_id)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False, default=utcnow)

    requested_by = relationship("CrmUser", foreign_keys=[requested_by_id])


class Document(Model):
    __tablename__ = "document"
    __entity__ = "document"
    __label__ = "Документ"
    __table_args__ = (
        UniqueConstraint("kind", "year", "number_int", name="uq_document_number"),
        Index("ix_document_record", "entity", "record_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    entity: Mapped[str] = mapped_column(String(32), nullable=False)
    record_id: Mapped[int] = mapped_column(Integer, nullable=False)
    kind: Mapped[str] = mapped_column(String(32), nullable=False, index=True)
    template_key: Mapped[str] = mapped_column(String(64), nullable=False)
    year: Mapped[int] = mapped_column(Integer, nullable=False)
    number_int: Mapped[int] = mapped_column(Integer, nullable=False)
    number: Mapped[str] = mapped_column(String(40), nullable=False)
    doc_date: Mapped[dt.date] = mapped_column(Date, nullable=False)
    # The total printed on it (invoices: what the payment has to match).
    amount: Mapped[object | None] = mapped_column(Numeric(14, 2), info={"money": True})
    paid_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    paid_by_id: Mapped[int | None] = mapped_column(Integer, ForeignKey("ab_user.id"))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False, default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(Integer, ForeignKey("ab_user.id"),
                                                      default=current_actor_id)
    # A definition's generate_document writes one document per record and action.
    effect_key: Mapped[str | None] = mapped_column(String(200), unique=True)

    created_by = relationship("CrmUser", foreign_keys=[created_by_id])
    paid_by = relationship("CrmUser", foreign_keys=[paid_by_id])
    versions = relationship("DocumentVersion", back_populates="document",
                            order_by="DocumentVersion.version", lazy="selectin")

    @property
    def latest(self) -> "DocumentVersion | None":
        return self.versions[-1] if self.versions else None

    def __str__(self) -> str:
        return f"№ {self.number} от {self.doc_date:%d.%m.%Y}"


class DocumentVersion(Model):
    __tablename__ = "document_version"
    __entity__ = "document_version"
    __table_args__ = (UniqueConstraint("document_id", "version",
                                       name="uq_document_version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    document_id: Mapped[int] = mapped_column(Integer, ForeignKey("document.id"),
                                             nullable=False, index=True)
    version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)
    status: Mapped[str] = mapped_column(String(16), nullable=False,
                                        default=VersionStatus.pending.value, index=True)
    template_id: Mapped[int | None] = mapped_column(Integer, ForeignKey("document_template.id"))
    template_version: Mapped[int | None] = mapped_column(Integer)
    attachment_id: Mapped[int | None] = mapped_column(Integer, ForeignKey("attachment.id"))
    sha256: Mapped[str | None] = mapped_column(String(64))
    pages: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)
    batch_id: Mapped[int | None] = mapped_column(Integer, ForeignKey("document_batch.id"),
                                                 index=True)
    # Who gets it once rendered: e-mail addresses (the client, the accountant...).
    send_to: Mapped[str | None] = mapped_column(String(500))
    requested_by_id: Mapped[int | None] = mapped_column(Integer, ForeignKey("ab_user.id"),
                                                        default=current_actor_id)
    requested_at: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False, default=utcnow)
    ready_at: Mapped[dt.datetime | None] = mapped_column(DateTime)

    document = relationship("Document", back_populates="versions")
    template = relationship("DocumentTemplate")
    attachment = relationship("Attachment")
    requested_by = relationship("CrmUser", foreign_keys=[requested_by_id])

    @property
    def status_label(self) -> str:
        return VERSION_STATUS_LABELS.get(self.status, self.status)
