"""Document templates as administrators upload them: compiled in Jinja's sandbox, every
variable required (a typo is an error, not an empty place), output HTML-escaped. A new
version is checked on the sample of its kind — it must compile, render, make a PDF and put
text in it — before it may replace the active one; TemplateError says why in Russian, with
the template's line when it is known."""
from __future__ import annotations

import contextvars
import functools
import io
import math
import re
import time

import jinja2
import pypdf
from jinja2.exceptions import SecurityError, TemplateSyntaxError, UndefinedError
from jinja2.sandbox import ImmutableSandboxedEnvironment

from documents import samples, words
from documents.fields import record_fields_in
from documents.pdf import PdfError, html_to_pdf

TEMPLATE_NAME = "<template>"
MAX_SOURCE_CHARS = 500_000
MAX_HTML_CHARS = 10_000_000  # far past a 25-page specification (~1 MB)


class TemplateError(Exception):
    def __init__(self, reason: str, line: int | None = None):
        super().__init__(reason)
        self.reason = reason
        self.line = line

    def __str__(self) -> str:
        return f"Строка {self.line}: {self.reason}" if self.line else self.reason


# The filters a template may use: ours, and Jinja's that cannot make a huge value from a
# small one (no center, indent, format, wordwrap, pprint, urlize...).
OWN_FILTERS = {
    "money": words.money, "qty": words.qty, "date": words.date_in_words,
    "date_short": words.date_short, "in_words": words.amount_in_words,
    "plural": words.plural, "initials": words.initials,
}
JINJA_FILTERS = ("abs", "batch", "capitalize", "default", "d", "e", "escape", "first",
                 "float", "int", "join", "last", "length", "count", "list", "lower",
                 "upper", "title", "trim", "round", "sum", "sort", "reverse", "unique",
                 "min", "max", "string", "striptags", "truncate", "replace", "slice",
                 "select", "reject", "selectattr", "rejectattr", "map", "groupby", "safe")
# What one rendering may take: a template that loops for ever is stopped, not waited for.
TIME_LIMIT_SECONDS = 30.0
MAX_ITEMS = 1_000_000   # the longest string or list an operator may make
MAX_POWER = 64
# (the moment a rendering must be done by, its limit in seconds)
_DEADLINE: contextvars.ContextVar[tuple[float, float]] = contextvars.ContextVar(
    "template_deadline", default=(math.inf, math.inf))


class LimitedSandbox(ImmutableSandboxedEnvironment):
    """The sandbox, with a time budget checked at every call and arithmetic operator, and
    operators that cannot build a string or a number of gigabytes (`"x" * 10**9`)."""

    intercepted_binops = frozenset({"*", "**", "%", "+", "//", "/"})

    def _in_time(self) -> None:
        deadline, limit = _DEADLINE.get()
        if time.monotonic() > deadline:
            raise TemplateError(f"шаблон заполняется дольше {limit:.0f} с: проверьте циклы")

    def call(__self, __context, __obj, *args, **kwargs):  # noqa: N805 - Jinja's signature
        __self._in_time()
        return super().call(__context, __obj, *args, **kwargs)

    def call_binop(self, context, operator, left, right):
        self._in_time()
        sized = (str, list, tuple)
        if operator == "**" and (abs(_number(right)) > MAX_POWER
                                 or abs(_number(left)) > MAX_ITEMS):
            raise TemplateError("слишком большая степень")
        if operator == "%" and isinstance(left, str):
            raise TemplateError("форматирование строк через % недоступно: используйте фильтры")
        if operator == "*" and (isinstance(left, sized) or isinstance(right, sized)):
            seq, times = (left, right) if isinstance(left, sized) else (right, left)
            if len(seq) * max(0, _number(times)) > MAX_ITEMS:
                raise TemplateError("слишком длинная строка или список")
        if operator == "+" and isinstance(left, sized) and isinstance(right, sized) \
                and len(left) + len(right) > MAX_ITEMS:
            raise TemplateError("слишком длинная строка или список")
        return super().call_binop(context, operator, left, right)


def _number(value) -> float:
    try:
        return float(value)
    except (TypeError, ValueError, OverflowError):
        return math.inf


def _environment() -> ImmutableSandboxedEnvironment:
    # An empty field prints nothing, never «None».
    env = LimitedSandbox(autoescape=True, undefined=jinja2.StrictUndefined,
                         trim_blocks=True, lstrip_blocks=True,
                         finalize=lambda value: "" if value is None else value)
    env.filters = {**{name: env.filters[name] for name in JINJA_FILTERS}, **OWN_FILTERS}
    return env


ENV = _environment()

# Jinja's messages in Russian: (pattern, reason). A message matching none is not shown (it is
# English): the line number says where to look.
_SYNTAX_REASONS = (
    (r"unexpected end of template.*closed is '([^']*)'",
     "шаблон оборвался: не закрыт блок «{0}» (нужен «{{% end{0} %}}»)"),
    (r"unexpected end of template", "шаблон оборвался: не закрыт блок"),
    (r"(?:encountered )?unknown tag '([^']*)'", "неизвестный тег «{0}»"),
    (r"expected token '([^']*)', got '([^']*)'", "ожидалось «{0}», а встретилось «{1}»"),
    (r"no filter named '([^']*)'", "неизвестный фильтр «{0}»"),
    (r"no test named '([^']*)'", "неизвестная проверка «{0}»"),
    (r"expected an expression", "ожидалось выражение: переменная, число или строка"),
    (r"unexpected char '([^']*)'", "недопустимый символ «{0}»"),
    (r"unexpected '([^']*)'", "неожиданный символ «{0}»"),
    (r"unexpected", "неожиданный символ или тег"),
)
_RENDER_REASONS = {
    "ZeroDivisionError": "деление на ноль",
    "TypeError": "действие над значениями неподходящего типа (например, текст и число)",
    "ValueError": "неподходящее значение для фильтра или действия",
    "KeyError": "нет такого ключа",
    "IndexError": "нет элемента с таким номером",
    "AttributeError": "нет такого поля",
    "InvalidOperation": "неподходящее число",
}


_TOKENS = {"end of print statement": "}}", "end of statement block": "%}",
           "begin of print statement": "{{", "begin of statement block": "{%",
           "end of template": "конец шаблона", "name": "имя"}


def _syntax_reason(message: str) -> str:
    for pattern, reason in _SYNTAX_REASONS:
        found = re.search(pattern, message or "", re.IGNORECASE)
        if found:
            tokens = [_TOKENS.get(g, g) for g in found.groups()]
            return f"синтаксическая ошибка: {reason.format(*tokens)}"
    return "синтаксическая ошибка"


def compile_template(source: str) -> jinja2.Template:
    if not isinstance(source, str) or not source.strip():
        raise TemplateError("шаблон пуст")
    if len(source) > MAX_SOURCE_CHARS:
        raise TemplateError(f"шаблон длиннее {MAX_SOURCE_CHARS} символов")
    return _compiled(source)


@functools.lru_cache(maxsize=64)
def _compiled(source: str) -> jinja2.Template:
    # A worker prints many documents from the same few templates: compile each once.
    try:
        return ENV.from_string(source)
    except TemplateSyntaxError as exc:
        raise TemplateError(_syntax_reason(exc.message or ""), exc.lineno) from exc


def _template_line(exc: BaseException) -> int | None:
    """The template line a render failed on: Jinja rewrites the traceback so that the
    template's own frames carry its file name and line numbers."""
    line, tb = None, exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == TEMPLATE_NAME:
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


def _render(template: jinja2.Template, context: dict) -> str:
    parts, size = [], 0
    for part in template.generate(context):
        size += len(part)
        if size > MAX_HTML_CHARS:
            raise TemplateError(f"документ получается длиннее {MAX_HTML_CHARS} символов")
        parts.append(part)
    return "".join(parts)


def render_html(source: str, context: dict,
                time_limit: float = TIME_LIMIT_SECONDS) -> str:
    template = compile_template(source)
    started = _DEADLINE.set((time.monotonic() + time_limit, time_limit))
    try:
        return _render(template, context)
    except TemplateError:
        raise
    except UndefinedError as exc:
        raise TemplateError(f"неизвестная переменная или поле: {exc.message}",
                            _template_line(exc)) from exc
    except SecurityError as exc:
        raise TemplateError(f"недопустимое обращение в шаблоне: {exc}",
                            _template_line(exc)) from exc
    except Exception as exc:  # a filter or a comparison on the values: say where
        reason = _RENDER_REASONS.get(type(exc).__name__, "значения не подходят для шаблона")
        raise TemplateError(f"ошибка при заполнении шаблона: {reason}",
                            _template_line(exc)) from exc
    finally:
        _DEADLINE.reset(started)


def pdf_text(data: bytes) -> str:
    return "\n".join(page.extract_text() or "" for page in pypdf.PdfReader(io.BytesIO(data)).pages)


def check_template(source: str, kind: str) -> None:
    """Refuse a template that would not make a readable document of its kind. A record
    field the sample lacks (a process's own field, seed 002's «Продукция для КП») is given
    a sample value: whether the process has it is checked where a definition names the
    template."""
    context = samples.sample_context(kind)
    record = dict(context.get("record") or {})
    for name in sorted(record_fields_in(source) - set(record)):
        record[name] = "1"
    html = render_html(source, {**context, "record": record})
    try:
        data = html_to_pdf(html)
    except PdfError as exc:
        raise TemplateError(f"из шаблона не получается PDF: {exc}") from exc
    if not pdf_text(data).strip():
        raise TemplateError("в PDF по шаблону нет текста: проверьте разметку и стили "
                            "(display: none, пустые блоки)")
