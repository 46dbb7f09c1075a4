"""Amounts, dates and quantities as Russian documents write them."""
from __future__ import annotations

from datetime import date
from decimal import ROUND_HALF_UP, Decimal

from num2words import num2words

NBSP = "\u00a0"
MONTHS_GENITIVE = ("января", "февраля", "марта", "апреля", "мая", "июня", "июля",
                   "августа", "сентября", "октября", "ноября", "декабря")
CENT = Decimal("0.01")


def plural(n: int, one: str, few: str, many: str) -> str:
    """The Russian form for a count: 1 рубль, 2 рубля, 5 рублей (11-14 take «many»)."""
    n = abs(n)
    if n % 100 in (11, 12, 13, 14):
        return many
    if n % 10 == 1:
        return one
    if n % 10 in (2, 3, 4):
        return few
    return many


def _cents(value) -> Decimal:
    return Decimal(value).quantize(CENT, rounding=ROUND_HALF_UP)


def amount_in_words(value) -> str:
    """«Сто пятьдесят тысяч рублей 00 копеек»: roubles in words, kopecks in digits, as
    invoices and acts write the sum."""
    amount = _cents(value)
    sign = "минус " if amount < 0 else ""
    amount = abs(amount)
    roubles = int(amount)
    kopecks = int((amount - roubles) * 100)
    text = (f"{sign}{num2words(roubles, lang='ru')} "
            f"{plural(roubles, 'рубль', 'рубля', 'рублей')} "
            f"{kopecks:02d} {plural(kopecks, 'копейка', 'копейки', 'копеек')}")
    return text[:1].upper() + text[1:]


def date_in_words(value: date | None) -> str:
    """«30 ноября 2026 г.»"""
    if value is None:
        return ""
    return f"{value.day} {MONTHS_GENITIVE[value.month - 1]} {value.year} г."


def date_short(value: date | None) -> str:
    """«30.11.2026»"""
    return value.strftime("%d.%m.%Y") if value else ""


def initials(full_name: str | None) -> str:
    """«Иванов Сергей Петрович» -> «Иванов С. П.», as signatures are written."""
    parts = (full_name or "").split()
    if len(parts) < 2:
        return full_name or ""
    return " ".join([parts[0], *(f"{p[0]}." for p in parts[1:3])])


def _group(digits: str) -> str:
    groups = []
    while digits:
        groups.insert(0, digits[-3:])
        digits = digits[:-3]
    return NBSP.join(groups) or "0"


def money(value) -> str:
    """«150 000,00»: non-breaking spaces between thousands, a comma before kopecks."""
    if value is None or value == "":
        return ""
    amount = _cents(value)
    sign = "-" if amount < 0 else ""
    whole, _, frac = f"{abs(amount):.2f}".partition(".")
    return f"{sign}{_group(whole)},{frac}"


def qty(value) -> str:
    """A quantity with no trailing zeros: 10, 2,5, 1 250."""
    if value is None or value == "":
        return ""
    number = Decimal(value)
    if number == number.to_integral_value():
        number = number.quantize(Decimal(1))
    else:
        number = number.normalize()
    sign = "-" if number < 0 else ""
    whole, _, frac = f"{abs(number):f}".partition(".")
    return f"{sign}{_group(whole)}" + (f",{frac}" if frac else "")
