"""PROVISIONAL (replaced by the docs-render branch)."""
from decimal import Decimal

from num2words import num2words


def amount_in_words(value) -> str:
    value = Decimal(value or 0)
    rubles = int(value)
    kop = int((value - rubles) * 100)
    text = num2words(rubles, lang="ru")
    return f"{text[:1].upper()}{text[1:]} рублей {kop:02d} копеек"
