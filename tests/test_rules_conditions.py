import pytest

from rules.conditions import ConditionError, evaluate, validate

OVER_500K = {"field": "budget", "op": "gt", "value": 500000}


@pytest.mark.parametrize("budget, expected", [(500000, False), (500000.01, True),
                                              (499999, False), (None, False)])
def test_amount_boundary(budget, expected):
    assert evaluate(OVER_500K, {"budget": budget}) is expected


def test_invoice_contract_band_boundaries():
    band = {"all": [{"field": "budget", "op": "gt", "value": 150000},
                    {"field": "budget", "op": "le", "value": 500000}]}
    assert [evaluate(band, {"budget": b}) for b in (150000, 150001, 500000, 500001)] == \
        [False, True, True, False]


def test_contains_not_any_and_empty():
    cond = {"any": [{"field": "direction", "op": "contains", "value": "россия"},
                    {"not": {"field": "flag", "op": "eq", "value": True}}]}
    assert evaluate(cond, {"direction": "Россия, Москва", "flag": True})
    assert not evaluate(cond, {"direction": "Казахстан", "flag": True})
    assert evaluate(cond, {"direction": None, "flag": False})
    assert evaluate({"field": "x", "op": "empty"}, {"x": ""})
    assert evaluate({"field": "x", "op": "empty", "value": False}, {"x": "a"})
    assert evaluate({"field": "s", "op": "in", "value": ["a", "b"]}, {"s": "b"})


def test_changed_compares_with_old_values():
    cond = {"field": "state", "op": "changed"}
    assert evaluate(cond, {"state": "completed"}, {"state": "planned"})
    assert not evaluate(cond, {"state": "completed"}, {"state": "completed"})


@pytest.mark.parametrize("cond, message", [
    ({"field": "nope", "op": "eq", "value": 1}, "неизвестное поле «nope»"),
    ({"field": "budget", "op": "like", "value": 1}, "неизвестная операция «like»"),
    ({"field": "budget", "op": "gt"}, "нужно value"),
    ({"all": []}, "непустой список"),
    ({"field": "budget", "op": "in", "value": 3}, "нужен список"),
    ("budget > 5", "должно быть объектом"),
])
def test_bad_conditions_name_the_path(cond, message):
    with pytest.raises(ConditionError) as err:
        validate(cond, {"budget"}, "stages.kp.when")
    assert message in str(err.value) and str(err.value).startswith("stages.kp.when")


def test_old_looks_at_the_value_before_the_change():
    was_empty = {"field": "kp_price", "op": "empty", "old": True}
    assert evaluate(was_empty, {"kp_price": 12}, {"kp_price": None}) is True
    assert evaluate(was_empty, {"kp_price": 11}, {"kp_price": 12}) is False
    assert evaluate(was_empty, {"kp_price": 12}) is False  # no old values: a new record
    with pytest.raises(ConditionError, match="old: ожидается true или false"):
        validate({**was_empty, "old": 1}, {"kp_price"}, "when")
