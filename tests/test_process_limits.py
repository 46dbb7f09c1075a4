"""Process definitions are input: YAML aliases are counted as written out, nesting and size
have limits, wrong types and stage colours are refused in Russian, never with a 500, on
the CLI and the upload screen alike."""
from __future__ import annotations

import io
import time

import pytest
from sqlalchemy import func, select

from app.extensions import db
from errors import DefinitionError
from models.pipeline import Pipeline, Stage
from models.process import ProcessVersion
from process.catalog import parse_text
from rules.definition import MAX_ACTIONS, MAX_FIELDS, MAX_STAGES


def definition(stage_extra: str = "", color: str = "#39a8ef", task_extra: str = "",
               head: str = "") -> str:
    return (f"key: probe\nname: Проба\nentity: deal\n{head}"
            "stages:\n"
            f"  - key: first\n    name: Первый\n    color: \"{color}\"\n{stage_extra}"
            "    on_enter:\n"
            "      - do: create_task\n        title: Позвонить\n        assignee: responsible\n"
            f"{task_extra}"
            "  - key: done\n    name: Готово\n    kind: won\n")


def alias_bomb() -> str:
    """Nine to the eighth checklist items from a few hundred bytes."""
    levels = ['  - &a0 [Пункт, Пункт, Пункт, Пункт, Пункт, Пункт, Пункт, Пункт, Пункт]']
    levels += [f"  - &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, 8)]
    return definition(head="description:\n" + "\n".join(levels) + "\n",
                      task_extra="        checklist: *a7\n")


def many_stages(n: int) -> str:
    stages = "".join(f"  - key: s{i}\n    name: Этап {i}\n" for i in range(n - 1))
    return f"key: probe\nname: Проба\nentity: deal\nstages:\n{stages}" \
           "  - key: done\n    name: Готово\n    kind: won\n"


def many_fields(n: int) -> str:
    fields = "".join(f"  - {{key: f{i}, label: Поле {i}, type: string}}\n" for i in range(n))
    return definition(head=f"fields:\n{fields}")


def many_actions(n: int) -> str:
    actions = "".join(f"      - do: create_task\n        key: t{i}\n        title: Задача {i}\n"
                      f"        assignee: responsible\n" for i in range(n))
    return ("key: probe\nname: Проба\nentity: deal\nstages:\n"
            f"  - key: first\n    name: Первый\n    on_enter:\n{actions}"
            "  - key: done\n    name: Готово\n    kind: won\n")


REFUSED = [
    (alias_bomb(), "после раскрытия ссылок YAML"),
    ("key: probe\ndescription: &loop [*loop]\n", "после раскрытия ссылок YAML"),
    ("description: " + "[" * 200_000 + "]" * 200_000 + "\n", "вложенность глубже 40 уровней"),
    (many_stages(MAX_STAGES + 1), f"stages: этапов {MAX_STAGES + 1}, а допустимо не больше "
                                  f"{MAX_STAGES}"),
    (many_fields(MAX_FIELDS + 1), f"fields: полей {MAX_FIELDS + 1}, а допустимо не больше "
                                  f"{MAX_FIELDS}"),
    (many_actions(MAX_ACTIONS + 1), f"действий (do: ...) больше {MAX_ACTIONS}"),
    (definition(task_extra="        outcomes:\n          Готово:\n            fields: [{a: 1}]\n"),
     "stages.first.on_enter[0].outcomes: вариант «Готово»: fields: ожидается список названий "
     "полей"),
    (definition(stage_extra="    moves: 5\n"), "значение неверного типа"),
    (definition(stage_extra="    required_if: [{fields: 5, when: 1}]\n"),
     "значение неверного типа"),
    (definition(color="red; background: url(http://evil.example/x)"),
     "stages.first.color: «red; background: url(http://evil.example/x)»: цвет записывается "
     "как #rgb или #rrggbb"),
    (definition(color="#12345"), "stages.first.color"),
]


def _counts():
    return tuple(db.session.scalar(select(func.count()).select_from(m))
                 for m in (Pipeline, Stage, ProcessVersion))


@pytest.mark.parametrize("text, message", REFUSED)
def test_a_bad_definition_is_refused_fast_in_russian(app, text, message):
    started = time.monotonic()
    with pytest.raises(DefinitionError) as info:
        parse_text(text, "bad.yaml")
    assert time.monotonic() - started < 2
    assert info.value.message.startswith("bad.yaml: ")
    assert message in info.value.message, info.value.message


@pytest.mark.parametrize("text", [definition(color="#abc"), definition(color="#39A8EF"),
                                  many_stages(MAX_STAGES), many_fields(MAX_FIELDS),
                                  many_actions(MAX_ACTIONS - 1)])
def test_definitions_within_the_limits_are_accepted(app, text):
    assert parse_text(text, "good.yaml").key == "probe"


def test_the_cli_refuses_the_alias_bomb_and_writes_nothing(app, runner, tmp_path):
    bad = tmp_path / "bomb.yaml"
    bad.write_text(alias_bomb(), encoding="utf-8")
    before = _counts()
    result = runner.invoke(args=["crm", "rules", "install", str(bad)])
    assert result.exit_code == 1
    assert "bomb.yaml: файл: после раскрытия ссылок YAML" in result.output
    assert _counts() == before


@pytest.mark.parametrize("text, message", [REFUSED[0], REFUSED[2], REFUSED[6], REFUSED[7],
                                           REFUSED[9]])
def test_the_upload_screen_refuses_with_the_sentence(app, client, text, message):
    before = _counts()
    resp = client.post("/crm/process/upload/",
                       data={"file": (io.BytesIO(text.encode("utf-8")), "bad.yaml")},
                       content_type="multipart/form-data")
    assert resp.status_code == 422
    assert message in resp.get_data(as_text=True).replace("&#34;", '"').replace("&#39;", "'")
    assert _counts() == before


def test_rules_check_reports_a_bomb_installed_before_the_limits(app, runner):
    """A version stored by an older release is checked by the same limits."""
    db.session.add(ProcessVersion(process_key="probe", version=1, name="Проба",
                                  entity="deal", filename="old.yaml", source=alias_bomb(),
                                  sha256="0" * 64, active=True))
    db.session.commit()
    result = runner.invoke(args=["crm", "rules", "check"])
    assert result.exit_code == 1
    assert "Установленная версия 1 процесса «probe»: old.yaml: файл: после раскрытия " \
           "ссылок YAML" in result.output


def test_a_stage_colour_on_the_stage_form_must_be_a_colour(app, client):
    from process.catalog import install_shipped

    install_shipped()
    db.session.commit()
    stage = db.session.scalar(select(Stage).limit(1))
    resp = client.api("put", f"/api/v1/stage/{stage.id}",
                      json={"color": "red;x:url(/)", "version": stage.version}
                      if hasattr(stage, "version") else {"color": "red;x:url(/)"})
    assert resp.status_code == 422, resp.get_data(as_text=True)
    assert "#rrggbb" in str(resp.json["message"])
    db.session.expire_all()
    assert db.session.get(Stage, stage.id).color != "red;x:url(/)"
