"""Shared by the client link, brief and payment tests: a deal with a rendered document and a
link to it made as its manager would."""
from __future__ import annotations

import re

from sqlalchemy import select

from app.extensions import db
from models.base import acting_as
from models.client_link import ClientLink
from models.document import Document
from models.pipeline import Pipeline
from process import client_links, documents
from tests.document_helpers import deal_with_items, fill_company_profile, run_documents
from tests.test_pipeline_fixtures import make_pipeline

LINK_RE = re.compile(r'id="crm-link-url-(\d+)" value="http://[^/]+(/c/[^"]+)"')


def rendered(kind: str = "commercial_offer", title: str = "Поставка эко-пакетов",
             responsible: str = "manager", pipeline=None):
    """(deal, document) with its first version rendered and attached."""
    fill_company_profile()
    pipeline = pipeline or db.session.scalar(select(Pipeline).where(Pipeline.code == "sales")) \
        or make_pipeline()
    deal = deal_with_items(title, responsible, pipeline)
    with acting_as(deal.responsible_id):
        document = documents.request(deal, "deal", kind)
    db.session.commit()
    run_documents()
    db.session.expire_all()
    document = db.session.get(Document, document.id)
    assert document.latest.status == "ready", document.latest.error
    return deal, document


def link_to(document, days: int = 30) -> tuple[ClientLink, str]:
    link, token = client_links.create_for_document(document, days)
    db.session.commit()
    return link, f"/c/{token}"


def links_of(deal) -> list[ClientLink]:
    return list(db.session.scalars(select(ClientLink).where(
        ClientLink.entity == "deal", ClientLink.record_id == deal.id)))
