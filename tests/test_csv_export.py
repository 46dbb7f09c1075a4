"""CSV exports: a cell that a spreadsheet would run as a formula is neutralised with a
leading apostrophe (OWASP), genuine numbers are left alone, and money is a plain number
Excel can sum (the file is for Russian Excel: `;` between cells, a decimal comma)."""
from __future__ import annotations

import csv
import io
from decimal import Decimal

import pytest

from app.extensions import db
from models.party import Company
from views.base import csv_cell

DANGEROUS = ['=HYPERLINK("http://evil.example","Нажми")', "+7+cmd|' /C calc'!A0",
             "-2+3", "@SUM(1+1)", "\tтаб", "\rвозврат"]


def _rows(resp) -> list[list[str]]:
    assert resp.status_code == 200 and resp.mimetype == "text/csv"
    return list(csv.reader(io.StringIO(resp.get_data(as_text=True).lstrip("\ufeff")),
                           delimiter=";"))


@pytest.mark.parametrize("value, expected", [
    ("=1+1", "'=1+1"), ("+1+1", "'+1+1"), ("-1+1", "'-1+1"), ("@A1", "'@A1"),
    ("\t=1", "'\t=1"), ("\r=1", "'\r=1"),
    ("-5", "-5"), ("+7", "+7"), ("-12,50", "-12,50"), ("-0.5", "-0.5"),
    ("ООО «Ромашка»", "ООО «Ромашка»"), ("", ""), ("a=b", "a=b"),
    (Decimal("125000.50"), "125000,50"), (Decimal("-3.10"), "-3,10"), (7, "7"),
    (Decimal("1E+3"), "1000"),
])
def test_cells(value, expected):
    assert csv_cell(value) == expected


def test_formula_cells_are_neutralised_in_the_export(client):
    for name in DANGEROUS:
        db.session.add(Company(kind="person", name=name))
    db.session.commit()
    rows = _rows(client.get("/companyview/export/"))
    names = {row[0] for row in rows[1:]}
    for name in DANGEROUS:
        assert "'" + name in names, (name, names)
    for row in rows[1:]:
        for cell in row:
            assert not cell.startswith(("=", "+", "@", "\t", "\r")), row


def test_money_exports_as_a_number_excel_can_sum(client):
    from process.catalog import install_shipped
    from tests.test_pipeline_fixtures import make_deal

    install_shipped()
    db.session.commit()
    make_deal("Крупная", "admin", budget="125000.50")
    make_deal("Мелкая", "admin", budget="1234567.05")
    rows = _rows(client.get("/dealview/export/"))
    column = rows[0].index("Бюджет")
    budgets = sorted(row[column] for row in rows[1:])
    assert budgets == ["1234567,05", "125000,50"]
    # what Russian Excel does with such a cell: a number
    assert sum(Decimal(b.replace(",", ".")) for b in budgets) == Decimal("1359567.55")



def test_flags_still_export_in_words(client):
    from models.party import Contact

    db.session.add(Contact(last_name="Флажков", first_name="Фёдор", decision_maker=True))
    db.session.commit()
    rows = _rows(client.get("/contactview/export/"))
    column = rows[0].index("ЛПР")
    assert [row[column] for row in rows[1:]] == ["Да"]
