"""Conditions as data: all / any / not, and comparisons of a field with a value.

    {"all": [{"field": "budget", "op": "gt", "value": 500000},
             {"not": {"field": "direction", "op": "contains", "value": "Россия"}}]}

No text is ever evaluated. `values` and `old` map field keys to plain values.

A comparison with `"old": true` looks at the value before the change instead of the new one
(`{"field": "kp_price", "op": "empty", "old": true}`: the field was empty before this save);
without `old` (the values of a save being unknown) it is false."""
from __future__ import annotations

from decimal import Decimal, InvalidOperation

OPERATORS = ("eq", "ne", "gt", "ge", "lt", "le", "in", "contains", "empty", "changed")
_NO_VALUE = ("empty", "changed")


class ConditionError(ValueError):
    pass


def _number(value):
    if isinstance(value, bool) or value is None:
        return value
    try:
        return Decimal(str(value))
    except (InvalidOperation, ValueError):
        return value


def _compare(op: str, left, right) -> bool:
    if op == "eq":
        return left == right or (_number(left) == _number(right) and left is not None)
    if op == "ne":
        return not _compare("eq", left, right)
    if op in ("gt", "ge", "lt", "le"):
        if left is None or left == "":
            return False
        a, b = _number(left), _number(right)
        try:
            return {"gt": a > b, "ge": a >= b, "lt": a < b, "le": a <= b}[op]
        except TypeError:
            return False
    if op == "in":
        return left in right
    if op == "contains":
        if left is None:
            return False
        if isinstance(left, (list, tuple, set)):
            return right in left
        return str(right).lower() in str(left).lower()
    raise ConditionError(f"неизвестная операция «{op}»")


def evaluate(cond, values: dict, old: dict | None = None) -> bool:
    if cond is None or cond == {}:
        return True
    if "all" in cond:
        return all(evaluate(c, values, old) for c in cond["all"])
    if "any" in cond:
        return any(evaluate(c, values, old) for c in cond["any"])
    if "not" in cond:
        return not evaluate(cond["not"], values, old)
    field, op = cond["field"], cond["op"]
    if cond.get("old"):
        if old is None:
            return False
        value = old.get(field)
        if op == "changed":
            return False
    else:
        value = values.get(field)
    if op == "empty":
        return value in (None, "", [], {}) if cond.get("value", True) else \
            value not in (None, "", [], {})
    if op == "changed":
        return old is not None and old.get(field) != value
    return _compare(op, value, cond.get("value"))


def validate(cond, fields: set[str], path: str) -> None:
    """Raises ConditionError naming the path of the first problem."""
    if not isinstance(cond, dict) or not cond:
        raise ConditionError(f"{path}: условие должно быть объектом (all / any / not / field)")
    for key in ("all", "any"):
        if key in cond:
            if not isinstance(cond[key], list) or not cond[key]:
                raise ConditionError(f"{path}.{key}: нужен непустой список условий")
            for i, sub in enumerate(cond[key]):
                validate(sub, fields, f"{path}.{key}[{i}]")
            return
    if "not" in cond:
        validate(cond["not"], fields, f"{path}.not")
        return
    if "field" not in cond or "op" not in cond:
        raise ConditionError(f"{path}: нужны field и op")
    if cond["field"] not in fields:
        raise ConditionError(f"{path}.field: неизвестное поле «{cond['field']}»")
    if cond["op"] not in OPERATORS:
        raise ConditionError(f"{path}.op: неизвестная операция «{cond['op']}»; допустимы: "
                             + ", ".join(OPERATORS))
    if cond["op"] not in _NO_VALUE and "value" not in cond:
        raise ConditionError(f"{path}: для операции «{cond['op']}» нужно value")
    if cond["op"] == "in" and not isinstance(cond.get("value"), list):
        raise ConditionError(f"{path}.value: для «in» нужен список")
    for key in cond:
        if key not in ("field", "op", "value", "old"):
            raise ConditionError(f"{path}.{key}: неизвестный ключ условия; допустимы: "
                                 "field, op, value, old")
    if "old" in cond and not isinstance(cond["old"], bool):
        raise ConditionError(f"{path}.old: ожидается true или false")
