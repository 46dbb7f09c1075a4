"""Templates as administrators upload them: syntax errors with their line, unknown
variables and attribute tricks refused, a template with no text in its PDF refused."""
import re
import time

import pytest

from documents.render import render_pdf, shipped_template
from documents.sandbox import TemplateError, check_template, compile_template, render_html

OK = "<html><body><p>Счёт № {{ doc.number }}</p></body></html>"


def test_a_syntax_error_names_its_line_in_russian():
    source = ("<html>\n<body>\n<p>{{ doc.number }}</p>\n{% if doc.number %}\n<p>x</p>\n"
              "{% endfor %}\n</body>")
    with pytest.raises(TemplateError) as caught:
        compile_template(source)
    assert caught.value.line == 6
    assert "синтаксическая ошибка" in caught.value.reason
    assert str(caught.value).startswith("Строка 6: ")


def test_a_bad_expression_names_its_line():
    with pytest.raises(TemplateError) as caught:
        compile_template("<p>\n\n{{ doc.number + }}</p>")
    assert caught.value.line == 3


def test_an_unknown_variable_is_refused_with_its_line():
    source = "<html><body>\n<p>{{ doc.number }}</p>\n<p>{{ seller.nmae }}</p>\n</body></html>"
    with pytest.raises(TemplateError) as caught:
        check_template(source, "invoice")
    assert caught.value.line == 3
    assert "неизвестная переменная" in caught.value.reason
    assert "nmae" in caught.value.reason


@pytest.mark.parametrize("attack", [
    "{{ ''.__class__.__mro__ }}",
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ doc.__class__ }}",
    "{{ cycler.__init__.__globals__ }}",
    "{% set x = items.append(1) %}",
    "{{ doc.update({'number': 1}) }}",
])
def test_sandbox_escapes_are_refused(attack):
    with pytest.raises(TemplateError) as caught:
        check_template(f"<html><body><p>{{{{ doc.number }}}}</p>\n{attack}</body></html>",
                       "invoice")
    assert caught.value.line == 2
    assert any(word in caught.value.reason for word in ("недопустимое", "неизвестная"))


def test_values_are_html_escaped():
    html = render_html("<p>{{ doc.number }}</p>", {"doc": {"number": "<b>1</b> & 2"}})
    assert html == "<p>&lt;b&gt;1&lt;/b&gt; &amp; 2</p>"


def test_a_template_without_pdf_text_is_refused():
    source = ("<html><body>{% if doc.number == 'нет' %}<p>{{ doc.number }}</p>{% endif %}"
              "</body></html>")
    with pytest.raises(TemplateError) as caught:
        check_template(source, "invoice")
    assert "нет текста" in caught.value.reason


def test_an_empty_template_is_refused():
    with pytest.raises(TemplateError, match="пуст"):
        compile_template("   ")


def test_local_files_are_not_read():
    source = '<html><body><p>{{ doc.number }}</p><img src="/etc/passwd"><img src="file:///etc/hostname"></body></html>'
    data = render_pdf(source, {"doc": {"number": "1"}})
    assert b"root:" not in data


@pytest.mark.parametrize("kind", ["invoice", "act", "leave_application"])
def test_shipped_templates_pass_the_check(kind):
    check_template(shipped_template(kind), kind)


@pytest.mark.parametrize("source, reason", [
    ("{% for x in %}{% endfor %}",
     "синтаксическая ошибка: ожидалось выражение: переменная, число или строка"),
    ("<p>\n{{ total / }}</p>", "синтаксическая ошибка: неожиданный символ «}}»"),
    ("{% frobnicate %}", "синтаксическая ошибка: неизвестный тег «frobnicate»"),
    ("{% if doc %}",
     "синтаксическая ошибка: шаблон оборвался: не закрыт блок «if» (нужен «{% endif %}»)"),
    ("{{ 1 / 0 }}", "ошибка при заполнении шаблона: деление на ноль"),
    ("{{ doc.title + 1 }}", "ошибка при заполнении шаблона: действие над значениями "
                            "неподходящего типа (например, текст и число)"),
])
def test_an_admin_reads_why_a_template_is_refused_in_russian(source, reason):
    """The admin uploading a version sees the line and the reason in Russian: Jinja's own
    English message never reaches the screen."""
    with pytest.raises(TemplateError) as caught:
        render_html(source, {"doc": {"title": "Счёт"}})
    assert caught.value.reason == reason
    assert not re.search(r"[A-Za-z]{3,}", re.sub(r"«[^»]*»", "", caught.value.reason))


@pytest.mark.parametrize("source, reason", [
    ("{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
     "шаблон заполняется дольше 1 с: проверьте циклы"),
    ('{% set s = "x" * 300000000 %}{{ s|length }}', "слишком длинная строка или список"),
    ("{{ [0] * 10 ** 7 }}", "слишком длинная строка или список"),
    ('{{ "%0999999999d" % 1 }}', "форматирование строк через % недоступно: используйте фильтры"),
    ('{{ "x"|center(10 ** 9) }}', "синтаксическая ошибка: неизвестный фильтр «center»"),
    ('{{ "%099d"|format(1) }}', "синтаксическая ошибка: неизвестный фильтр «format»"),
])
def test_a_template_cannot_hang_or_exhaust_the_renderer(source, reason):
    """An admin's template is filled within a time budget (checked at every call and
    operator), with operators that cannot build gigabytes and only the whitelisted filters:
    refused in seconds, not after hours or an out-of-memory kill."""
    started = time.monotonic()
    with pytest.raises(TemplateError) as caught:
        render_html(source, {}, time_limit=1)
    assert caught.value.reason == reason
    assert time.monotonic() - started < 10
