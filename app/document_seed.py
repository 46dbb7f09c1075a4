"""The shipped document templates (pdf_templates/) as version rows of their keys, and the one
row of our company's requisites. A template the admin gave a version of their own is left as
they made it; an untouched one follows the product's new release as a new version."""
from __future__ import annotations

import hashlib

from sqlalchemy import func, select

from app.extensions import db
from app.seed_records import remember_seeded, seed_record
from documents.kinds import SHIPPED
from documents.render import shipped_template
from models.document import CompanyProfile, DocumentTemplate

SEED_KIND = "document_template"


def _digest(source: str) -> str:
    return hashlib.sha256(source.encode("utf-8")).hexdigest()


def seed_template(shipped) -> str | None:
    """One shipped template (documents.kinds.SHIPPED)."""
    source = shipped_template(shipped.key)
    remembered = seed_record(SEED_KIND, shipped.key)
    active = db.session.scalars(select(DocumentTemplate).where(
        DocumentTemplate.key == shipped.key, DocumentTemplate.active.is_(True))).first()
    if active is None:
        # Templates have no delete: a key with no active version was never written here.
        db.session.add(DocumentTemplate(key=shipped.key, kind=shipped.kind, name=shipped.name,
                                        version=1, source=source, active=True,
                                        comment="Шаблон из поставки", created_by_id=None))
        remember_seeded(SEED_KIND, shipped.key, _digest(source))
        db.session.flush()  # the caller may read it back inside no_autoflush
        return "added"
    if remembered is None or remembered.value != _digest(active.source) \
            or active.source == source:
        return None  # the admin's own version, or nothing new
    last = db.session.scalar(select(func.max(DocumentTemplate.version)).where(
        DocumentTemplate.key == shipped.key))
    active.active = False
    db.session.add(DocumentTemplate(key=shipped.key, kind=shipped.kind, name=active.name,
                                    version=last + 1, source=source, active=True,
                                    comment="Обновление шаблона из поставки",
                                    created_by_id=None))
    remember_seeded(SEED_KIND, shipped.key, _digest(source))
    return "updated"


def seed_document_templates() -> list[str]:
    done = [seed_template(shipped) for shipped in SHIPPED.values()]
    if db.session.scalar(select(func.count()).select_from(CompanyProfile)) == 0:
        db.session.add(CompanyProfile(name=""))
    db.session.commit()
    lines = []
    if done.count("added"):
        lines.append(f"Шаблоны документов добавлены: {done.count('added')}")
    if done.count("updated"):
        lines.append(f"Шаблоны документов обновлены: {done.count('updated')}")
    return lines
