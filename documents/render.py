"""The API the product calls: a template's source and a context in, a PDF out."""
from __future__ import annotations

from documents.kinds import SHIPPED
from documents.pdf import TEMPLATES_DIR, html_to_pdf, register_fonts
from documents.sandbox import render_html

__all__ = ["render_pdf", "shipped_template", "register_fonts"]


def render_pdf(source: str, context: dict) -> bytes:
    """Raises sandbox.TemplateError for a template that cannot be filled, pdf.PdfError when
    xhtml2pdf cannot lay the HTML out."""
    return html_to_pdf(render_html(source, context))


def shipped_template(key: str) -> str:
    """The source of a shipped template: a kind's own, or an extra one (kinds.SHIPPED)."""
    return (TEMPLATES_DIR / SHIPPED[key].file).read_text(encoding="utf-8")
