"""Loading process definitions: shipped ones load, bad ones are refused with one sentence
naming the file, the path and the problem."""
import copy
from pathlib import Path

import pytest

from errors import DefinitionError
from rules.definition import load_file, parse
from tests.rules_catalog import CATALOG

DEFINITIONS = sorted((Path(__file__).parents[1] / "rules" / "definitions").glob("*.yaml"))
GOOD = {
    "key": "mini", "name": "Мини", "entity": "deal",
    "fields": [{"key": "kp", "label": "КП", "type": "file"}],
    "stages": [
        {"key": "new", "name": "Новая", "deadline": "1h",
         "on_enter": [{"do": "create_task", "title": "Связаться с клиентом «{title}»",
                       "deadline": "1d"}]},
        {"key": "won", "name": "Успех", "kind": "won", "required": ["kp"]},
        {"key": "lost", "name": "Провал", "kind": "lost"},
    ],
}


@pytest.mark.parametrize("path", DEFINITIONS, ids=lambda p: p.name)
def test_shipped_definitions_load(path):
    process = load_file(path, CATALOG)
    assert process.stages and process.name


def test_good_example_loads():
    process = parse(GOOD, CATALOG, "mini.yaml")
    assert process.happy_path() == ["new", "won"]
    assert process.labels["kp"] == "КП"


def _bad(change):
    data = copy.deepcopy(GOOD)
    change(data)
    return data


BAD = [
    (lambda d: d.pop("key"), "mini.yaml: key: обязательный ключ отсутствует"),
    (lambda d: d.update(entity="ship"), "mini.yaml: entity: неизвестная сущность «ship»"),
    (lambda d: d.update(colour=1), "mini.yaml: colour: неизвестный ключ"),
    (lambda d: d["stages"][1].update(required=["nope"]),
     "mini.yaml: stages.won.required: неизвестное поле «nope»"),
    (lambda d: d["stages"][0].update(deadline="soon"),
     "mini.yaml: stages.new.deadline: непонятная длительность «soon»"),
    (lambda d: d["stages"][0]["on_enter"][0].update(do="teleport"),
     "mini.yaml: stages.new.on_enter[0].do: неизвестное действие «teleport»"),
    (lambda d: d["stages"][0]["on_enter"][0].update(do="generate_document", template="x"),
     "stages.new.on_enter[0].do: действие «generate_document» пока недоступно"),
    (lambda d: d["stages"][0]["on_enter"][0].update(do="start_approval"),
     "stages.new.on_enter[0].do: действие «start_approval» пока недоступно"),
    (lambda d: d["stages"][0]["on_enter"][0].update(title="Звонок {client_nmae}"),
     "stages.new.on_enter[0].title: неизвестная подстановка «{client_nmae}»"),
    (lambda d: d["stages"][0]["on_enter"][0].update(assignee={"role": "astronaut"}),
     "stages.new.on_enter[0].assignee: неизвестная роль «astronaut»"),
    (lambda d: d["stages"][0]["on_enter"][0].update(deadline=15.5),
     "stages.new.on_enter[0].deadline: неизвестная единица «.5» в длительности «15.5»"),
    (lambda d: d["stages"][0]["on_enter"][0].update(colour="red"),
     "stages.new.on_enter[0].colour: неизвестный параметр"),
    (lambda d: d["stages"][0]["on_enter"][0].pop("title"),
     "stages.new.on_enter[0].title: обязательный параметр отсутствует"),
    (lambda d: d["stages"][0]["on_enter"][0].update(
        when={"field": "budget", "op": "like", "value": 1}),
     "stages.new.on_enter[0].when.op: неизвестная операция «like»"),
    (lambda d: d["stages"][0].update(moves=["mars"]),
     "stages.new.moves: неизвестный этап «mars»"),
    (lambda d: d["stages"].append({"key": "new", "name": "Ещё"}),
     "stages: этап «new» указан дважды"),
    (lambda d: d["fields"].append({"key": "p", "label": "П", "type": "choice",
                                   "list": "colours"}),
     "fields[1].list: неизвестный справочник «colours»"),
    (lambda d: d["fields"].append({"key": "p", "label": "П", "type": "vector"}),
     "fields[1].type: неизвестный тип «vector»"),
    (lambda d: d.update(lost_reason_list="whims"),
     "lost_reason_list: неизвестный справочник «whims»"),
    (lambda d: d["stages"][0].update(moves=["won"]) or d["stages"][1].update(moves=["won"])
     or d["stages"][2].update(moves=["lost"]),
     "stages.lost: этап недостижим из первого этапа"),
    (lambda d: d["stages"].insert(1, {"key": "loop", "name": "Петля", "moves": ["loop2"]})
     or d["stages"].insert(2, {"key": "loop2", "name": "Петля 2", "moves": ["loop"]}),
     "stages.loop.moves: цикл без выхода"),
    (lambda d: d["stages"][1].update(kind="maybe"), "stages.won.kind: неизвестный вид этапа"),
]


@pytest.mark.parametrize("change, message", BAD, ids=[m for _c, m in BAD])
def test_bad_definitions_are_refused_with_their_path(change, message):
    with pytest.raises(DefinitionError) as err:
        parse(_bad(change), CATALOG, "mini.yaml")
    assert message in str(err.value)
    assert str(err.value).startswith("mini.yaml: ")


def test_broken_yaml_names_the_line(tmp_path):
    bad = tmp_path / "broken.yaml"
    bad.write_text("key: x\nstages: [\n  - a\n", encoding="utf-8")
    with pytest.raises(DefinitionError) as err:
        load_file(bad, CATALOG)
    assert str(err.value).startswith("broken.yaml: строка")
