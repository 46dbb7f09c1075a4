"""Check digits of Russian requisites (INN, OGRN, OGRNIP, bank accounts) and the form of an
e-mail address. Pure functions: each returns None when the value is right, or a Russian
message."""
from __future__ import annotations

import re

_INN10 = (2, 4, 10, 3, 5, 9, 4, 6, 8)
_INN12_1 = (7, 2, 4, 10, 3, 5, 9, 4, 6, 8)
_INN12_2 = (3, 7, 2, 4, 10, 3, 5, 9, 4, 6, 8)
_ACCOUNT = (7, 1, 3) * 8  # 23 weights for the 3 BIK digits + 20 account digits


def _is_digits(value: str) -> bool:
    # isascii: «²» and «٣» are digits to str.isdigit(); the check digits need 0-9.
    return value.isascii() and value.isdigit()


def _digits(value: str, length: int, what: str) -> str | None:
    if not _is_digits(value) or len(value) != length:
        return f"{what} должен состоять из {length} цифр"
    return None


def _inn_digit(digits: str, weights) -> int:
    return sum(int(d) * w for d, w in zip(digits, weights)) % 11 % 10


def inn_error(value: str, length: int) -> str | None:
    """length 10: legal entity; 12: individual entrepreneur or person."""
    value = (value or "").strip()
    if err := _digits(value, length, "ИНН"):
        return err
    if length == 10:
        ok = _inn_digit(value, _INN10) == int(value[9])
    else:
        ok = (_inn_digit(value, _INN12_1) == int(value[10])
              and _inn_digit(value, _INN12_2) == int(value[11]))
    return None if ok else "ИНН указан с ошибкой: не сходится контрольное число"


def any_inn_error(value: str) -> str | None:
    """An INN of either a legal entity (10 digits) or a person / entrepreneur (12)."""
    value = (value or "").strip()
    if not _is_digits(value) or len(value) not in (10, 12):
        return "ИНН должен состоять из 10 цифр (организация) или 12 цифр (ИП, физлицо)"
    return inn_error(value, len(value))


def ogrn_error(value: str) -> str | None:
    value = (value or "").strip()
    if err := _digits(value, 13, "ОГРН"):
        return err
    if int(value[:12]) % 11 % 10 != int(value[12]):
        return "ОГРН указан с ошибкой: не сходится контрольное число"
    return None


def ogrnip_error(value: str) -> str | None:
    value = (value or "").strip()
    if err := _digits(value, 15, "ОГРНИП"):
        return err
    if int(value[:14]) % 13 % 10 != int(value[14]):
        return "ОГРНИП указан с ошибкой: не сходится контрольное число"
    return None


def kpp_error(value: str) -> str | None:
    value = (value or "").strip()
    if len(value) != 9 or not (value.isascii() and value[:4].isdigit()
                               and value[6:].isdigit() and value[4:6].isalnum()):
        return "КПП должен состоять из 9 знаков"
    return None


def bik_error(value: str) -> str | None:
    return _digits((value or "").strip(), 9, "БИК")


def _account_ok(key: str) -> bool:
    return sum(int(d) * w for d, w in zip(key, _ACCOUNT)) % 10 == 0


def settlement_account_error(account: str, bik: str) -> str | None:
    """Расчётный счёт: the check uses the last 3 digits of the BIK."""
    account, bik = (account or "").strip(), (bik or "").strip()
    if err := _digits(account, 20, "Расчётный счёт"):
        return err
    if bik_error(bik):
        return "Для проверки расчётного счёта укажите верный БИК"
    if not _account_ok(bik[-3:] + account):
        return "Расчётный счёт не соответствует БИК: не сходится контрольное число"
    return None


def correspondent_account_error(account: str, bik: str) -> str | None:
    """Корреспондентский счёт: the check uses "0" and digits 5-6 of the BIK."""
    account, bik = (account or "").strip(), (bik or "").strip()
    if err := _digits(account, 20, "Корреспондентский счёт"):
        return err
    if bik_error(bik):
        return "Для проверки корреспондентского счёта укажите верный БИК"
    if not _account_ok("0" + bik[4:6] + account):
        return "Корреспондентский счёт не соответствует БИК: не сходится контрольное число"
    return None


def make_inn(prefix: str) -> str:
    """Completes 9 (or 10) leading digits into a valid INN of 10 (or 12) digits (demo data)."""
    if len(prefix) == 9:
        return prefix + str(_inn_digit(prefix, _INN10))
    first = prefix + str(_inn_digit(prefix, _INN12_1))
    return first + str(_inn_digit(first, _INN12_2))


def make_ogrn(prefix12: str) -> str:
    return prefix12 + str(int(prefix12) % 11 % 10)


def make_ogrnip(prefix14: str) -> str:
    return prefix14 + str(int(prefix14) % 13 % 10)


def make_settlement_account(prefix19: str, bik: str) -> str:
    """Chooses the control digit (position 9) so the account matches the BIK."""
    for digit in "0123456789":
        account = prefix19[:8] + digit + prefix19[8:]
        if _account_ok(bik[-3:] + account):
            return account
    raise ValueError("no control digit")  # pragma: no cover - one always exists


def make_correspondent_account(prefix19: str, bik: str) -> str:
    for digit in "0123456789":
        account = prefix19[:8] + digit + prefix19[8:]
        if _account_ok("0" + bik[4:6] + account):
            return account
    raise ValueError("no control digit")  # pragma: no cover


# name@domain.tld: no spaces, quotes or brackets in the name, no dot at its ends or twice;
# domain labels of letters (Cyrillic too), digits and inner hyphens; a TLD of letters.
_EMAIL = re.compile(r"^(?!\.)(?!.*\.\.)[^\s@\"(),:;<>\[\]\\]+(?<!\.)"
                    r"@(?:[^\W_](?:(?:[^\W_]|-)*[^\W_])?\.)+[^\W\d_]{2,}$")
EMAIL_MESSAGE = "Неверный адрес электронной почты: ожидается вида name@example.ru"


def email_error(value: str | None) -> str | None:
    email = (value or "").strip()
    if not email:
        return None
    if len(email) > 254 or not _EMAIL.match(email):
        return EMAIL_MESSAGE
    return None
