"""Amounts, dates and quantities in Russian document style (documents/words.py)."""
from datetime import date
from decimal import Decimal

import pytest

from documents.amounts import item_line, totals
from documents.words import amount_in_words, date_in_words, initials, money, qty


@pytest.mark.parametrize("value, words", [
    ("1", "Один рубль 00 копеек"),
    ("2", "Два рубля 00 копеек"),
    ("5", "Пять рублей 00 копеек"),
    ("11", "Одиннадцать рублей 00 копеек"),
    ("21", "Двадцать один рубль 00 копеек"),
    ("101000", "Сто одна тысяча рублей 00 копеек"),
    ("150000", "Сто пятьдесят тысяч рублей 00 копеек"),
    ("1000000.01", "Один миллион рублей 01 копейка"),
    ("0.99", "Ноль рублей 99 копеек"),
    ("112.02", "Сто двенадцать рублей 02 копейки"),
    ("2000.005", "Две тысячи рублей 01 копейка"),
])
def test_amount_in_words(value, words):
    assert amount_in_words(Decimal(value)) == words


def test_date_money_qty_initials():
    assert date_in_words(date(2026, 11, 30)) == "30 ноября 2026 г."
    assert date_in_words(date(2026, 5, 1)) == "1 мая 2026 г."
    assert money(Decimal("150000")) == "150\u00a0000,00"
    assert money(Decimal("1234567.505")) == "1\u00a0234\u00a0567,51"
    assert money(Decimal("0.5")) == "0,50"
    assert qty(Decimal("10.000")) == "10"
    assert qty(Decimal("2.50")) == "2,5"
    assert qty(Decimal("1250")) == "1\u00a0250"
    assert initials("Иванов Сергей Петрович") == "Иванов С. П."


def test_vat_is_taken_out_of_the_price():
    line = item_line(1, "Товар", Decimal("2"), Decimal("61000"), "22")
    assert line["total"] == Decimal("122000.00")
    assert line["vat_amount"] == Decimal("22000.00")
    assert line["amount"] == Decimal("100000.00")
    block = totals([line, item_line(2, "Услуга", 1, Decimal("1220"), "22")])
    assert block["vat_label"] == "В том числе НДС 22%"
    assert block["total"] == Decimal("123220.00") and block["vat"] == Decimal("22220.00")
    assert block["total_in_words"].startswith("Сто двадцать три тысячи двести двадцать рублей")
    assert totals([item_line(1, "Без НДС", 1, 100, "none")])["vat_label"] == "Без НДС"
    with pytest.raises(ValueError):
        item_line(1, "x", 1, 1, "18")
