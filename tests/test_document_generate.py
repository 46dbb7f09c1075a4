"""Generating a document: a number from the yearly sequence, a pending version rendered after
commit by the documents worker, the PDF attached to the record with its checksum, the timeline
entry, regeneration as a new version with the same number, and one document per effect key."""
from __future__ import annotations

import hashlib

from sqlalchemy import func, select

from app.attachments import path_of
from app.extensions import db
from models.attachment import Attachment
from models.document import Document, DocumentVersion
from models.outbox import OutboxMessage
from models.timeline import TimelineEntry
from process import documents, trash
from tests.document_helpers import deal_with_items, fill_company_profile, run_documents


def test_an_invoice_is_rendered_after_commit_and_attached(app, document_templates):
    fill_company_profile()
    deal = deal_with_items()
    document = documents.request(deal, "deal", "invoice")
    db.session.commit()
    version = document.latest
    assert (document.number, version.status, version.attachment_id) == ("1", "pending", None)
    [row] = db.session.scalars(select(OutboxMessage).where(OutboxMessage.kind == "document"))
    assert row.document_version_id == version.id

    run_documents()
    db.session.expire_all()
    version = db.session.get(DocumentVersion, version.id)
    assert version.status == "ready", version.error
    attachment = db.session.get(Attachment, version.attachment_id)
    data = path_of(attachment).read_bytes()
    assert data.startswith(b"%PDF") and version.sha256 == hashlib.sha256(data).hexdigest()
    assert (attachment.entity, attachment.record_id) == ("deal", deal.id)
    assert attachment.filename.startswith("Счёт на оплату № 1 от ")
    texts = list(db.session.scalars(select(TimelineEntry.text).where(
        TimelineEntry.entity == "deal", TimelineEntry.record_id == deal.id)))
    assert "Сформирован документ «Счёт на оплату» № 1" in texts
    assert db.session.get(OutboxMessage, row.id).status == "sent"


def test_numbers_follow_each_other_per_kind_and_regenerating_keeps_the_number(
        app, document_templates):
    deal = deal_with_items()
    first = documents.request(deal, "deal", "invoice")
    second = documents.request(deal, "deal", "invoice")
    act = documents.request(deal, "deal", "act")
    db.session.commit()
    assert (first.number, second.number, act.number) == ("1", "2", "1")
    run_documents()
    db.session.expire_all()
    first = db.session.get(Document, first.id)
    again = documents.regenerate(first)
    db.session.commit()
    run_documents()
    db.session.expire_all()
    first = db.session.get(Document, first.id)
    assert [v.version for v in first.versions] == [1, 2]
    assert all(v.status == "ready" for v in first.versions)
    assert first.versions[0].attachment_id != first.versions[1].attachment_id
    assert again.document.number == "1"


def test_the_same_effect_key_makes_one_document(app, document_templates):
    deal = deal_with_items()
    one = documents.request(deal, "deal", "invoice", effect_key="t1:deal.invoice")
    two = documents.request(deal, "deal", "invoice", effect_key="t1:deal.invoice")
    db.session.commit()
    assert one.id == two.id
    assert db.session.scalar(select(func.count()).select_from(Document)) == 1


def test_a_template_that_cannot_be_filled_fails_at_once_with_its_reason(
        app, document_templates):
    """A version whose template breaks on this record is «Ошибка формирования» with the
    line and the reason on the first attempt: retrying the same template cannot help."""
    deal = deal_with_items()
    template = documents.active_template("invoice")
    template.source = "<p>{{ 1 / 0 }}</p>"
    document = documents.request(deal, "deal", "invoice")
    db.session.commit()
    run_documents()
    db.session.expire_all()
    version = db.session.get(DocumentVersion, document.latest.id)
    assert version.status == "failed"
    assert version.error == "Строка 1: ошибка при заполнении шаблона: деление на ноль"
    row = db.session.scalar(select(OutboxMessage).where(
        OutboxMessage.document_version_id == version.id))
    assert (row.status, row.attempts) == ("failed", 1)


def test_a_record_with_documents_goes_to_the_bin_comes_back_and_is_purged(
        app, document_templates):
    """Its documents are its papers: binned and restored with it, and deleted with it (their
    files too) when the bin is emptied, not left pointing at deleted files."""
    deal = deal_with_items()
    document_id, deal_id = documents.request(deal, "deal", "invoice").id, deal.id
    db.session.commit()
    run_documents()
    batch = trash.move_to_bin(db.session.get(type(deal), deal_id))
    db.session.commit()
    batch = trash.restore(batch.id)
    db.session.commit()
    assert db.session.get(Document, document_id).latest.status == "ready"
    batch = trash.move_to_bin(db.session.get(type(deal), deal_id))
    db.session.commit()
    trash.purge(batch.id)
    db.session.commit()
    db.session.expire_all()
    assert db.session.get(Document, document_id) is None
    assert db.session.scalar(select(func.count()).select_from(DocumentVersion)) == 0
