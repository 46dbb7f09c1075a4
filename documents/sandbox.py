"""PROVISIONAL (written by the docs-screens branch so its tests run; the docs-render
branch's version replaces it): compiling a template in the sandbox and checking it on a
sample before it is stored."""
from __future__ import annotations

from jinja2 import TemplateSyntaxError
from jinja2.sandbox import SandboxedEnvironment


class TemplateError(Exception):
    def __init__(self, line: int | None, reason: str):
        super().__init__(f"Строка {line}: {reason}" if line else reason)
        self.line, self.reason = line, reason


def compile_template(source: str):
    try:
        return SandboxedEnvironment(autoescape=True).from_string(source)
    except TemplateSyntaxError as exc:
        raise TemplateError(exc.lineno, exc.message or "ошибка синтаксиса") from exc


def check_template(source: str, kind: str) -> None:
    """Compiles the source and renders it on the kind's sample: a broken template is
    refused with the line and the reason."""
    from documents.render import render_pdf
    from documents.samples import sample_context

    compile_template(source)
    try:
        render_pdf(source, sample_context(kind))
    except TemplateSyntaxError as exc:
        raise TemplateError(exc.lineno, exc.message or "ошибка синтаксиса") from exc
    except Exception as exc:  # noqa: BLE001 - any failure on the sample refuses the template
        raise TemplateError(None, f"шаблон не формируется на примере: {exc}") from exc
