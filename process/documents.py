"""Documents of records: requesting one (a number from its yearly sequence, a pending version
and the outbox row that has the worker render it), regenerating, and what the worker writes
once the PDF is made. Rendering itself never runs in a request: `documents.render` does it
in the `crm-documents` worker (jobs/tasks.py), between `render_input()` and `store()`."""
from __future__ import annotations

import datetime as dt
import hashlib
import io
import re
from dataclasses import dataclass

from sqlalchemy import func, insert, select, update
from sqlalchemy.exc import IntegrityError

from app.attachments import save_upload
from app.document_seed import seed_template
from app.extensions import db
from app.formatting import to_local
from documents.kinds import KINDS, SHIPPED
from errors import DocumentRefused
from models.base import utcnow
from models.document import (
    Document, DocumentBatch, DocumentSequence, DocumentTemplate, DocumentVersion, VersionStatus,
)
from models.outbox import OutboxKind, OutboxMessage
from models.registry import get_record, model_for
from models.timeline import add_timeline
from models.user import CrmUser
from models.trash import SHOW_BINNED
from process.absence import local_today
from process.document_context import build_context, record_amount
from process.snapshot import process_of

PDF = "application/pdf"


def kinds_for(entity: str) -> list:
    """The kinds of documents a record of this entity may have, in the registry's order."""
    return [kind for kind in KINDS.values() if entity in kind.entities]


def templates_for(kind: str) -> list[DocumentTemplate]:
    """The active template of every key of a kind (the shipped one and the admin's own)."""
    return list(db.session.scalars(
        select(DocumentTemplate).where(DocumentTemplate.kind == kind,
                                       DocumentTemplate.active.is_(True))
        .order_by(DocumentTemplate.key != kind, DocumentTemplate.name)))


def active_template(key: str) -> DocumentTemplate | None:
    return db.session.scalars(select(DocumentTemplate).where(
        DocumentTemplate.key == key, DocumentTemplate.active.is_(True))).first()


def _template_for(kind: str, template_key: str | None) -> DocumentTemplate:
    template = active_template(template_key or kind)
    if template is None and (template_key or kind) in SHIPPED:
        # A shipped template the seed has not written yet (a database from before this
        # release): written now, as `flask crm seed` would.
        seed_template(SHIPPED[template_key or kind])
        template = active_template(template_key or kind)
    if template is None:
        raise DocumentRefused(f"Шаблон «{template_key or kind}» не найден")
    if template.kind != kind:
        raise DocumentRefused(f"Шаблон «{template.name}» не подходит для документа "
                              f"«{KINDS[kind].title}»")
    return template


def next_number(kind: str, year: int) -> int:
    """The next number of a kind in a year. The UPDATE locks the sequence row until the
    caller's transaction ends: a concurrent document waits and takes the next one, and a
    rolled-back document gives its number back, so numbers have no gaps and no repeats."""
    table = DocumentSequence.__table__
    bump = (update(table).where(table.c.kind == kind, table.c.year == year)
            .values(last_number=table.c.last_number + 1).returning(table.c.last_number))
    number = db.session.execute(bump).scalar()
    if number is None:
        try:
            with db.session.begin_nested():
                db.session.execute(insert(table).values(kind=kind, year=year, last_number=0))
        except IntegrityError:
            pass  # another transaction started the year first; its row is now ours to bump
        number = db.session.execute(bump).scalar()
    return number


def _check_kind(entity: str, kind: str) -> None:
    spec = KINDS.get(kind)
    if spec is None:
        raise DocumentRefused(f"Неизвестный вид документа «{kind}»")
    if entity not in spec.entities:
        raise DocumentRefused(f"«{spec.title}» не формируется для этой записи")


def _new_version(document: Document, template: DocumentTemplate, *, batch_id=None,
                 send_to: str | None = None) -> DocumentVersion:
    number = 1 + max((v.version for v in document.versions), default=0)
    version = DocumentVersion(document=document, version=number, template_id=template.id,
                              template_version=template.version, batch_id=batch_id,
                              send_to=send_to, status=VersionStatus.pending.value)
    db.session.add(version)
    db.session.flush()
    db.session.add(OutboxMessage(
        kind=OutboxKind.document.value, recipients=[], subject=None,
        body=f"{KINDS[document.kind].title} № {document.number}, версия {number}",
        entity=document.entity, record_id=document.record_id,
        document_version_id=version.id, effect_key=f"document:{version.id}"))
    return version


def request(record, entity: str, kind: str, template_key: str | None = None, *,
            effect_key: str | None = None, batch_id: int | None = None,
            send_to: str | None = None) -> Document:
    """A new numbered document of the record, to be rendered after commit. With an
    `effect_key` (a definition's action) the second request of the same key returns the
    first document: an effect run twice makes one document."""
    _check_kind(entity, kind)
    if effect_key:
        existing = db.session.scalars(select(Document).where(
            Document.effect_key == effect_key).execution_options(**SHOW_BINNED)).first()
        if existing is not None:
            return existing
    template = _template_for(kind, template_key)
    today = local_today()
    number = next_number(kind, today.year)
    document = Document(entity=entity, record_id=record.id, kind=kind,
                        template_key=template.key, year=today.year, number_int=number,
                        number=str(number), doc_date=today, amount=record_amount(record),
                        effect_key=effect_key)
    db.session.add(document)
    db.session.flush()
    _new_version(document, template, batch_id=batch_id, send_to=send_to)
    return document


def regenerate(document: Document) -> DocumentVersion:
    """A new version with the same number, from the template's active version and the
    record as it is now; the older files stay."""
    # Two users at once: the second waits here (PostgreSQL) for the first to commit and
    # then finds its pending version, instead of colliding on the version number.
    db.session.execute(select(Document.id).where(Document.id == document.id)
                       .with_for_update())
    db.session.expire(document, ["versions"])
    if any(v.status == VersionStatus.pending.value for v in document.versions):
        raise DocumentRefused(f"Документ № {document.number} ещё формируется")
    template = _template_for(document.kind, document.template_key)
    document.amount = record_amount(get_record(document.entity, document.record_id))
    return _new_version(document, template)


def request_batch(records, entity: str, kind: str, template_key: str | None = None
                  ) -> DocumentBatch:
    """One document per record, rendered by the workers in the background; the batch's
    page counts how many are ready."""
    _check_kind(entity, kind)
    _template_for(kind, template_key)
    batch = DocumentBatch(kind=kind, template_key=template_key, total=len(records))
    db.session.add(batch)
    db.session.flush()
    for record in records:
        request(record, entity, kind, template_key, batch_id=batch.id)
    return batch


@dataclass(frozen=True)
class BatchProgress:
    total: int
    ready: int
    failed: int

    @property
    def pending(self) -> int:
        return max(0, self.total - self.ready - self.failed)

    @property
    def finished(self) -> bool:
        return self.pending == 0


def batch_progress(batch: DocumentBatch) -> BatchProgress:
    counts = dict(db.session.execute(
        select(DocumentVersion.status, func.count()).where(
            DocumentVersion.batch_id == batch.id).group_by(DocumentVersion.status)).all())
    return BatchProgress(batch.total, counts.get(VersionStatus.ready.value, 0),
                         counts.get(VersionStatus.failed.value, 0))


# --- the worker's side ---------------------------------------------------------------------

@dataclass(frozen=True)
class RenderInput:
    version_id: int
    source: str
    context: dict
    filename: str


def render_input(version_id: int) -> RenderInput | None:
    """What to render, read in a short transaction; None when the version is no longer
    waiting (a second copy of the job, or it was rendered already)."""
    version = db.session.get(DocumentVersion, version_id)
    if version is None or version.status != VersionStatus.pending.value:
        return None
    document = version.document
    record = db.session.get(model_for(document.entity), document.record_id)
    if record is None:
        raise DocumentRefused("Запись документа не найдена")
    context = build_context(document, record)
    title = KINDS[document.kind].title
    filename = f"{title} № {document.number} от {document.doc_date:%d.%m.%Y}"
    if version.version > 1:
        filename += f" (версия {version.version})"
    return RenderInput(version.id, version.template.source, context, filename + ".pdf")


def number_text(document: Document) -> str:
    """«№ 123 от 30.11.2026»."""
    return f"№ {document.number} от {document.doc_date:%d.%m.%Y}"


def pages_of(pdf: bytes) -> int:
    """Page objects of a PDF (xhtml2pdf writes them uncompressed)."""
    return len(re.findall(rb"/Type\s*/Page[^s]", pdf))


def store(version_id: int, pdf: bytes, filename: str) -> bool:
    """Attaches the rendered PDF to the record and tells the timeline; e-mails it where the
    request said. False when another copy of the job stored it first."""
    version = db.session.scalars(select(DocumentVersion).where(
        DocumentVersion.id == version_id).with_for_update()
        .execution_options(populate_existing=True)).first()
    if version is None or version.status != VersionStatus.pending.value:
        return False
    document = version.document
    attachment = save_upload(io.BytesIO(pdf), filename, document.entity, document.record_id,
                             declared_type=PDF, user_id=version.requested_by_id or 0,
                             timeline=False)
    version.attachment_id = attachment.id
    version.sha256 = hashlib.sha256(pdf).hexdigest()
    version.pages = pages_of(pdf)
    version.status, version.ready_at, version.error = VersionStatus.ready.value, utcnow(), None
    title = KINDS[document.kind].title
    again = f" (версия {version.version})" if version.version > 1 else ""
    add_timeline(document.entity, document.record_id, "document",
                 f"Сформирован документ «{title}» № {document.number}{again}",
                 payload={"document_id": document.id, "version": version.version,
                          "attachment_id": attachment.id},
                 author_id=version.requested_by_id or 0)
    _fill_fields(document, attachment.id)
    if version.send_to:
        _mail(document, version, attachment.id)
    return True


def _fill_fields(document: Document, attachment_id: int) -> None:
    """The record's file fields that take this kind of document (`document:` in the
    definition) now hold the new file: seed 003's «Договор» is the generated contract. A
    field the user filled with another file is left alone, unless it held an earlier
    version of this very document."""
    record = get_record(document.entity, document.record_id)
    process = process_of(record) if record is not None else None
    fields = [f.key for f in getattr(process, "fields", ()) if f.document == document.kind]
    if not fields:
        return
    earlier = {v.attachment_id for v in document.versions if v.attachment_id}
    custom = dict(record.custom or {})
    for key in fields:
        if custom.get(key) in (None, "") or custom.get(key) in earlier:
            custom[key] = attachment_id
    record.custom = custom


def _mail(document: Document, version: DocumentVersion, attachment_id: int) -> None:
    title = KINDS[document.kind].title
    recipients = [a.strip() for a in version.send_to.split(",") if a.strip()]
    record = get_record(document.entity, document.record_id)
    manager = db.session.get(CrmUser, getattr(record, "responsible_id", None) or 0)
    signature = ""
    if manager is not None:
        contacts = ", ".join(part for part in (
            f"телефон {manager.phone}" if manager.phone else "",
            f"почта {manager.email}" if manager.email else "") if part)
        signature = f"\n\nВаш менеджер {manager.full_name}" + (f", {contacts}" if contacts else "")
    db.session.add(OutboxMessage(
        kind=OutboxKind.email.value, recipients=recipients,
        subject=f"{title} № {document.number} от {document.doc_date:%d.%m.%Y}",
        body=f"Здравствуйте!\n\nНаправляем {title.lower()} № {document.number} "
             f"от {document.doc_date:%d.%m.%Y}. Документ во вложении.{signature}",
        entity=document.entity, record_id=document.record_id,
        effect_key=f"document-mail:{version.id}", attachments=[attachment_id]))
    add_timeline(document.entity, document.record_id, "system",
                 f"Документ «{title}» № {document.number} отправлен по e-mail: "
                 + ", ".join(recipients), author_id=0)


def failed(version_id: int, error: str) -> None:
    """The worker gave up on this version: the record page says so and offers to retry."""
    version = db.session.get(DocumentVersion, version_id)
    if version is not None and version.status == VersionStatus.pending.value:
        version.status, version.error = VersionStatus.failed.value, error[:2000]


def mark_paid(document: Document, user_id: int | None, at: dt.datetime | None = None) -> bool:
    """«Оплачен» by hand or by a payment notification; False when it already was. The
    record's fields that follow the payment (`paid:` in the definition) are set through the
    service, so the definition's reactions (seed 003: to «Оплачено») run as for a form."""
    if document.paid_at is not None:
        return False
    document.paid_at, document.paid_by_id = at or utcnow(), user_id or None
    add_timeline(document.entity, document.record_id, "document",
                 f"Счёт № {document.number} оплачен",
                 payload={"document_id": document.id}, author_id=user_id or 0)
    _paid_fields(document)
    return True


def paid_fields(document: Document) -> list:
    """The record's fields that follow this invoice's payment (`paid:` in its definition):
    the definition then says what a payment does, its notices included."""
    record = get_record(document.entity, document.record_id)
    process = process_of(record) if record is not None else None
    return [f for f in getattr(process, "fields", ()) if f.paid == document.kind]


def _paid_fields(document: Document) -> None:
    from process.service import field_changed  # cycle: process.service imports this module

    fields = paid_fields(document)
    if not fields:
        return
    record = get_record(document.entity, document.record_id)
    custom = dict(record.custom or {})
    for f in fields:
        custom[f.key] = True if f.type == "bool" else \
            to_local(document.paid_at).date().isoformat()
    record.custom = custom
    field_changed(record, "payment")
