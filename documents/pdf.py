"""HTML -> PDF with xhtml2pdf, tuned for many documents in one process.

Where the time went (profiled; see bench/documents.py) and what is done about it:
- fonts: a @font-face parses the TTF on every render. The Roboto faces are registered with
  ReportLab once per process instead, and every family name xhtml2pdf knows (Helvetica,
  Arial, serif, ...) points at them, so a template needs no @font-face and cannot fall back
  to a font without Cyrillic (black squares, no error).
- <pdf:pagecount/> makes xhtml2pdf lay the whole document out twice. A template asks for
  page numbers with <meta name="page-numbers" content="стр. {page} из {pages}"> instead:
  the PDF is laid out once and the numbers are stamped on its pages afterwards.
- long tables: splitting a table across pages costs time in proportion to the rows left,
  so a 600-row table is quadratic; the shipped templates cut item lists into tables of
  CHUNK_ROWS rows (Jinja's `batch` filter), laid out one under the other.
- CSS: xhtml2pdf parses its user-agent stylesheet (with base.css appended) on every
  render; the parsed default stylesheet is kept for the process (`_cache_default_css`).
- table cells: xhtml2pdf wraps every cell in a KeepInFrame (to shrink what overflows),
  which lays the cell out again when drawing — a quarter of a long table's time. A cell of
  plain paragraphs goes to ReportLab as they are (`_plain_cells`); base.css breaks long
  words (overflow-wrap) so nothing overflows its column. Cells with images, nested tables
  or an explicit keep-in-frame mode keep xhtml2pdf's handling.
- ReportLab's C accelerator (rl-accel) is installed for its number formatting and encoding.
"""
from __future__ import annotations

import io
import re
import threading
from html import unescape
from pathlib import Path

import font_roboto
import pypdf
from reportlab.lib.pagesizes import A4
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen import canvas
from xhtml2pdf import default as xhtml2pdf_default
from xhtml2pdf import parser as xhtml2pdf_parser
from xhtml2pdf import pisa
from xhtml2pdf import tables as xhtml2pdf_tables
from xhtml2pdf.context import pisaContext
from xhtml2pdf.xhtml2pdf_reportlab import PmlParagraph
from xhtml2pdf.config.resources import ResourceAccessPolicy

TEMPLATES_DIR = Path(__file__).resolve().parents[1] / "pdf_templates"
FONT = "Roboto"
FACES = {(False, False): ("Roboto", "Roboto-Regular.ttf"),
         (True, False): ("Roboto-Bold", "Roboto-Bold.ttf"),
         (False, True): ("Roboto-Italic", "Roboto-Italic.ttf"),
         (True, True): ("Roboto-BoldItalic", "Roboto-BoldItalic.ttf")}
CHUNK_ROWS = 20
# Rendered documents may load nothing from disk or the network: images come as data: URIs.
POLICY = ResourceAccessPolicy.server(None, allow_remote=False, max_render_seconds=120)
PAGE_NUMBERS = re.compile(
    r"""<meta\s+name=["']page-numbers["']\s+content=["']([^"']*)["']\s*/?>""", re.I)

_fonts_lock = threading.Lock()
_fonts_ready = False
_default_css: str | None = None


class PdfError(Exception):
    """xhtml2pdf could not make a PDF of the HTML."""


def register_fonts() -> None:
    """Once per process: parse the TTFs and make every family xhtml2pdf knows draw with
    Roboto (its defaults are Type 1 fonts with no Cyrillic)."""
    global _fonts_ready
    if _fonts_ready:
        return
    with _fonts_lock:
        if _fonts_ready:
            return
        directory = Path(font_roboto.font_directory)
        for name, file in FACES.values():
            pdfmetrics.registerFont(TTFont(name, str(directory / file)))
        pdfmetrics.registerFontFamily(
            FONT, normal=FACES[False, False][0], bold=FACES[True, False][0],
            italic=FACES[False, True][0], boldItalic=FACES[True, True][0])
        fonts = xhtml2pdf_default.DEFAULT_FONT
        for alias, target in list(fonts.items()):
            if target in ("Symbol", "ZapfDingbats"):
                continue
            lower = target.lower()
            bold, italic = "bold" in lower, ("oblique" in lower or "italic" in lower)
            fonts[alias] = FACES[bold, italic][0]
        for alias in ("roboto", "sans-serif"):
            fonts[alias] = FONT
        _cache_default_css()
        _plain_cells()
        _fonts_ready = True


def _plain_cells() -> None:
    cell_tag = xhtml2pdf_tables.pisaTagTD
    original = getattr(cell_tag, "end", None)
    if original is None or getattr(original, "plain_cells", False):
        return

    def end(self, c):
        c.addPara()
        cell = c.story
        if (c.frag.insideStaticFrame or self.keep_in_frame_mode is not None
                or not all(isinstance(flowable, PmlParagraph) for flowable in cell)):
            return original(self, c)
        c.swapStory(self.story)
        c.tableData.add_cell(cell)

    end.plain_cells = True
    cell_tag.end = end


def _cache_default_css() -> None:
    """Parse the default stylesheet once per process. It holds rules only (no @page, no
    @font-face, whose parsing acts on the document being built), so the parsed rules can
    serve every document; user stylesheets are still parsed per document."""
    original = getattr(pisaContext, "_parseCSSSource", None)
    if original is None or getattr(original, "cached_default", False):
        return  # another xhtml2pdf: leave it as it is, only slower
    parsed: dict[str, object] = {}

    def parse(self, text, source_name):
        if (source_name != xhtml2pdf_parser.DEFAULT_CSS_SOURCE
                or text.strip() != default_css().strip()):
            return original(self, text, source_name)
        if text not in parsed:
            parsed[text] = original(self, text, source_name)
        return parsed[text]

    parse.cached_default = True
    pisaContext._parseCSSSource = parse


def default_css() -> str:
    """xhtml2pdf's user-agent stylesheet followed by pdf_templates/base.css: the house
    style every document gets, whatever its own <style> says after it."""
    global _default_css
    if _default_css is None:
        base = (TEMPLATES_DIR / "base.css").read_text(encoding="utf-8")
        _default_css = xhtml2pdf_default.DEFAULT_CSS + "\n" + base
    return _default_css


def html_to_pdf(html: str) -> bytes:
    register_fonts()
    out = io.BytesIO()
    try:
        result = pisa.CreatePDF(html, dest=out, encoding="utf-8", default_css=default_css(),
                                resource_policy=POLICY)
    except Exception as exc:  # xhtml2pdf raises whatever its parser or ReportLab raised
        raise PdfError(str(exc) or exc.__class__.__name__) from exc
    if result.err:
        raise PdfError(f"ошибок при сборке PDF: {result.err}")
    data = out.getvalue()
    match = PAGE_NUMBERS.search(html)
    if match:
        data = stamp_page_numbers(data, unescape(match.group(1)))
    return data


def stamp_page_numbers(data: bytes, pattern: str) -> bytes:
    """Write «стр. N из M» at the bottom right of every page: `pattern` takes {page} and
    {pages}. One overlay PDF with a page per page, merged page onto page."""
    reader = pypdf.PdfReader(io.BytesIO(data))
    pages = len(reader.pages)
    overlay_out = io.BytesIO()
    sheet = canvas.Canvas(overlay_out, pagesize=A4, pageCompression=1)
    for number, page in enumerate(reader.pages, start=1):
        width, _height = float(page.mediabox.width), float(page.mediabox.height)
        sheet.setPageSize((width, float(page.mediabox.height)))
        sheet.setFont(FONT, 8)
        text = pattern.replace("{page}", str(number)).replace("{pages}", str(pages))
        sheet.drawRightString(width - 42.5, 22, text)
        sheet.showPage()
    sheet.save()
    overlay = pypdf.PdfReader(io.BytesIO(overlay_out.getvalue()))
    writer = pypdf.PdfWriter(clone_from=reader)
    for page, stamp in zip(writer.pages, overlay.pages, strict=True):
        page.merge_page(stamp)
    result = io.BytesIO()
    writer.write(result)
    return result.getvalue()
