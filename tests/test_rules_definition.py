"""Loading process definitions: shipped ones load, bad ones are refused with one sentence
naming the file, the path and the problem."""
import copy
from pathlib import Path

from dataclasses import replace

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


def _act(data, **action):
    """Replace the first action of the first stage."""
    data["stages"][0]["on_enter"][0] = action


TRIGGER = {"key": "t", "fields": ["kp"],
           "actions": [{"do": "notify", "to": ["responsible"], "text": "КП"}]}

def _approval(d, **params):
    action = d["stages"][0]["on_enter"][0]
    action.clear()
    action.update({"do": "start_approval", "title": "Согласование", **params})


BAD = [
    (lambda d: d["stages"][1].update(required_positive=["sum"]),
     "mini.yaml: stages.won.required_positive: неизвестное поле «sum»"),
    (lambda d: d.pop("key"), "mini.yaml: key: обязательный ключ отсутствует"),
    (lambda d: d.update(entity="ship"), "mini.yaml: entity: неизвестная сущность «ship»"),
    (lambda d: d.update(colour=1), "mini.yaml: colour: неизвестный ключ"),
    (lambda d: d["stages"][1].update(required=["nope"]),
     "mini.yaml: stages.won.required: неизвестное поле «nope»"),
    (lambda d: d["stages"][0].update(deadline="soon"),
     "mini.yaml: stages.new.deadline: непонятная длительность «soon»"),
    (lambda d: d["stages"][0]["on_enter"][0].update(do="teleport"),
     "mini.yaml: stages.new.on_enter[0].do: неизвестное действие «teleport»"),
    # generate_document: a known kind that fits the entity, a known template of that kind
    (lambda d: _act(d, do="generate_document", template="invoice"),
     "stages.new.on_enter[0].kind: обязательный параметр отсутствует"),
    (lambda d: _act(d, do="generate_document", kind="passport"),
     "stages.new.on_enter[0].kind: неизвестный вид документа «passport»; допустимы: "
     "commercial_offer, invoice"),
    (lambda d: _act(d, do="generate_document", kind="leave_application"),
     "stages.new.on_enter[0].kind: «Заявление на отпуск / отгул» не формируется для "
     "записей «deal»"),
    (lambda d: _act(d, do="generate_document", kind="invoice", template="nope"),
     "stages.new.on_enter[0].template: неизвестный шаблон «nope»"),
    (lambda d: _act(d, do="generate_document", kind="invoice", template="act"),
     "stages.new.on_enter[0].template: шаблон «act» — для другого вида документа"),
    (lambda d: _approval(d, route="nowhere"),
     "stages.new.on_enter[0].route: неизвестный маршрут «nowhere»"),
    (lambda d: _approval(d, steps=[{"approvers": ["director"], "mode": "most"}]),
     "stages.new.on_enter[0].steps[0].mode: неизвестный режим «most»"),
    (lambda d: _approval(d, steps=[{"approvers": ["chief"]}]),
     "stages.new.on_enter[0].steps[0].approvers[0]: неизвестный согласующий «chief»"),
    (lambda d: _approval(d, steps=[{"approvers": [{"role": "astronaut"}]}]),
     "stages.new.on_enter[0].steps[0].approvers[0]: неизвестная роль «astronaut»"),
    (lambda d: _approval(d, steps=[]),
     "stages.new.on_enter[0].steps: маршрут должен содержать хотя бы один шаг"),
    (lambda d: _approval(d, steps=[{"approvers": ["director"]}], route="x"),
     "stages.new.on_enter[0].route: укажите либо route"),
    (lambda d: _approval(d, steps=[{"approvers": ["director"]}],
                         on_approved=[{"do": "teleport"}]),
     "stages.new.on_enter[0].on_approved.[0].do: неизвестное действие «teleport»"),
    (lambda d: d.update(routes={"r": {"steps": [{"approvers": ["director"],
                                                 "deadline": "soon"}]}}),
     "mini.yaml: routes.r.steps[0].deadline: непонятная длительность «soon»"),
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
    # process-level required / read-only fields
    (lambda d: d.update(required=["nope"]), "mini.yaml: required: неизвестное поле «nope»"),
    (lambda d: d.update(required_if=[{"fields": ["kp"]}]),
     "mini.yaml: required_if[0]: нужны ровно два ключа: fields и when"),
    (lambda d: d.update(readonly_if=[{"fields": ["kp"], "when": {"field": "kp", "op": "~"}}]),
     "mini.yaml: readonly_if[0].when.op: неизвестная операция «~»"),
    (lambda d: d["stages"][1].update(readonly_if=[{"fields": ["nope"], "when": {
        "field": "kp", "op": "empty"}}]),
     "mini.yaml: stages.won.readonly_if[0].fields: неизвестное поле «nope»"),
    # conditions on the value before the change
    (lambda d: d["stages"][0]["on_enter"][0].update(
        when={"field": "kp", "op": "empty", "old": "yes"}),
     "stages.new.on_enter[0].when.old: ожидается true или false"),
    (lambda d: d["stages"][0]["on_enter"][0].update(
        when={"field": "kp", "op": "empty", "before": True}),
     "stages.new.on_enter[0].when.before: неизвестный ключ условия"),
    # on_change triggers
    (lambda d: d.update(on_change=[{**TRIGGER, "fields": ["nope"]}]),
     "mini.yaml: on_change.t.fields: неизвестное поле «nope»"),
    (lambda d: d.update(on_change=[{**TRIGGER, "stages": ["mars"]}]),
     "mini.yaml: on_change.t.stages: неизвестный этап «mars»"),
    (lambda d: d.update(on_change=[{"key": "t", "fields": ["kp"]}]),
     "mini.yaml: on_change.t.actions: обязательный ключ отсутствует"),
    (lambda d: d.update(on_change=[{**TRIGGER, "then": 1}]),
     "mini.yaml: on_change[0].then: неизвестный ключ"),
    (lambda d: d.update(on_change=[TRIGGER, TRIGGER]),
     "mini.yaml: on_change[1].key: ключ «t» повторяется"),
    (lambda d: d.update(on_change=[{**TRIGGER, "actions": [{"do": "teleport"}]}]),
     "mini.yaml: on_change.t.actions[0].do: неизвестное действие «teleport»"),
    # based_on (создать на основании)
    (lambda d: d.update(based_on=[{"key": "b", "actions": TRIGGER["actions"]}]),
     "mini.yaml: based_on.b.label: обязательный ключ отсутствует"),
    (lambda d: d.update(based_on=[{"key": "b", "label": "Б", "actions": [
        {"do": "create_task", "title": "x", "assignee": {"chosen": "astronaut"}}]}]),
     "mini.yaml: based_on.b.actions[0].assignee: неизвестная роль «astronaut»"),
    # schedule / repeat and their nested action
    (lambda d: _act(d, do="schedule", after="3d", action={"do": "teleport"}),
     "stages.new.on_enter[0].action.do: неизвестное действие «teleport»"),
    (lambda d: _act(d, do="schedule", after="3d",
                    action={"do": "create_task", "title": "{nope}"}),
     "stages.new.on_enter[0].action.title: неизвестная подстановка «{nope}»"),
    (lambda d: _act(d, do="schedule", before="2d", action={"do": "notify", "to": [
        "responsible"], "text": "x"}),
     "stages.new.on_enter[0].before: before имеет смысл только вместе с relative_to"),
    (lambda d: _act(d, do="schedule", action={"do": "notify", "to": ["responsible"],
                                              "text": "x"}),
     "stages.new.on_enter[0].after: укажите after (задержка) или relative_to"),
    (lambda d: _act(d, do="schedule", relative_to="nope", action={
        "do": "notify", "to": ["responsible"], "text": "x"}),
     "stages.new.on_enter[0].relative_to: неизвестное поле «nope»"),
    (lambda d: _act(d, do="schedule", relative_to="kp", at="25:00", action={
        "do": "notify", "to": ["responsible"], "text": "x"}),
     "stages.new.on_enter[0].at: ожидается время ЧЧ:ММ, а указано «25:00»"),
    (lambda d: _act(d, do="repeat", every="1w", action={"do": "notify", "text": "x"}),
     "stages.new.on_enter[0].action.to: обязательный параметр отсутствует"),
    (lambda d: _act(d, do="schedule", after="1d", action={
        "do": "generate_document", "kind": "cmr", "send_to": "boss"}),
     "stages.new.on_enter[0].action.send_to: допустимо только client (e-mail клиента)"),
    # create_task: fields, relative deadline
    (lambda d: d["stages"][0]["on_enter"][0].update(fields=["nope"]),
     "stages.new.on_enter[0].fields: неизвестное поле «nope»"),
    (lambda d: d["stages"][0]["on_enter"][0].update(at="09:00"),
     "stages.new.on_enter[0].at: at имеет смысл только вместе с relative_to"),
    # outcomes: comment, fields, set, actions, choices
    (lambda d: d["stages"][0]["on_enter"][0].update(outcomes={"Нет": {"comment_field": "x"}}),
     "stages.new.on_enter[0].outcomes: вариант «Нет»: comment_field: неизвестное поле «x»"),
    (lambda d: d["stages"][0]["on_enter"][0].update(outcomes={"Да": {"choices": {
        "Отложить": {"move": "mars"}}}}),
     "вариант «Да»: choices: вариант «Отложить»: неизвестный этап «mars»"),
    (lambda d: d["stages"][0]["on_enter"][0].update(outcomes={"Да": {"actions": [
        {"do": "notify", "to": ["responsible"], "text": "{nope}"}]}}),
     "вариант «Да»: actions[0].text: неизвестная подстановка «{nope}»"),
    (lambda d: d["stages"][0]["on_enter"][0].update(outcomes={"Да": {"set": {"nope": 1}}}),
     "вариант «Да»: set: неизвестное поле «nope»"),
    (lambda d: d["stages"][0]["on_enter"][0].update(outcomes={"Да": {"repeat": "yes"}}),
     "вариант «Да»: repeat: ожидается true или false"),
    # create_record and move_record of another entity
    (lambda d: _act(d, do="create_record", entity="ship"),
     "stages.new.on_enter[0].entity: неизвестная сущность «ship»"),
    (lambda d: _act(d, do="create_record", entity="event", copy=["nope"]),
     "stages.new.on_enter[0].copy: неизвестное поле «nope»"),
    (lambda d: _act(d, do="create_record", entity="event", values={"colour": "red"}),
     "stages.new.on_enter[0].values: у сущности «event» нет поля «colour»"),
    (lambda d: _act(d, do="create_record", entity="event", values={"state": "lost"}),
     "stages.new.on_enter[0].values.state: у сущности «event» нет этапа «lost»"),
    (lambda d: _act(d, do="create_record", entity="event",
                    reminder={"after": "5m", "to": ["responsible"]}),
     "stages.new.on_enter[0].reminder.text: обязательный параметр отсутствует"),
    (lambda d: _act(d, do="move_record", record="basis", entity="order", to="paid"),
     "stages.new.on_enter[0].to: у сущности «order» нет этапа «paid»"),
    (lambda d: _act(d, do="move_record", record="parent", entity="order", to="agreed"),
     "stages.new.on_enter[0].record: ожидается basis"),
    # remind and message attachments
    (lambda d: _act(d, do="remind", text="x", after="5m"),
     "stages.new.on_enter[0].to: обязательный параметр отсутствует"),
    (lambda d: _act(d, do="send_message", subject="x", body="y", attachments=["nope"]),
     "stages.new.on_enter[0].attachments: неизвестное поле «nope»"),
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


def test_shared_route_files_are_checked_like_definitions(tmp_path):
    from rules.definition import load_routes

    good = tmp_path / "a.yaml"
    good.write_text("key: boss\nsteps:\n  - {approvers: [director]}\n", encoding="utf-8")
    assert load_routes([good], frozenset({"director"}))["boss"]["steps"][0]["approvers"] == \
        ["director"]
    bad = tmp_path / "b.yaml"
    bad.write_text("key: field_based\nsteps:\n  - {approvers: [{field: budget}]}\n",
                   encoding="utf-8")
    with pytest.raises(DefinitionError) as err:
        load_routes([bad], frozenset())
    assert str(err.value) == "b.yaml: steps[0].approvers[0]: неизвестное поле «budget»"
    twice = tmp_path / "c.yaml"
    twice.write_text("key: boss\nsteps:\n  - {approvers: [director]}\n", encoding="utf-8")
    with pytest.raises(DefinitionError) as err:
        load_routes([good, twice], frozenset())
    assert "маршрут «boss» уже есть в другом файле" in str(err.value)


def test_a_definition_starts_a_shared_route_by_its_name():
    from rules.engine import approval_route

    process = load_file(DEFINITIONS[0].parent / "002_sick_leave.yaml", CATALOG)
    rule = next(r for r, (_s, a) in process.rules.items() if a.name == "start_approval")
    assert approval_route(process, rule)["steps"][0]["approvers"] == ["requester_head"]


def test_a_document_template_printing_a_field_the_record_lacks_is_refused():
    """The templates an admin made are known to the catalog with the record fields they
    print; a definition naming one is checked against its entity's fields."""
    catalog = replace(CATALOG, document_templates={
        "kp_wholesale": ("commercial_offer", frozenset({"title", "budget"})),
        "kp_broken": ("commercial_offer", frozenset({"title", "shoe_size"}))})
    good = _bad(lambda d: _act(d, do="generate_document", kind="commercial_offer",
                               template="kp_wholesale", send_to="client"))
    action = parse(good, catalog, "mini.yaml").stages[0].on_enter[0]
    assert (action.name, action.params["template"]) == ("generate_document", "kp_wholesale")
    with pytest.raises(DefinitionError) as err:
        parse(_bad(lambda d: _act(d, do="generate_document", kind="commercial_offer",
                                  template="kp_broken")), catalog, "mini.yaml")
    assert str(err.value) == ("mini.yaml: stages.new.on_enter[0].template: шаблон печатает "
                              "поля, которых нет у записи: shoe_size")
