"""`flask crm rules simulate KEY` walks every shipped definition to its last stage."""
from __future__ import annotations

import pytest
import yaml

from process.catalog import shipped_files


def _shipped() -> list[tuple[str, str]]:
    """(process key, name of the last stage on its happy path) of each shipped file."""
    found = []
    for path in shipped_files():
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
        found.append((raw["key"], path.name))
    return found


@pytest.mark.parametrize("key,filename", _shipped())
def test_every_shipped_definition_simulates_to_its_end(app, runner, key, filename):
    from process.catalog import find_process

    result = runner.invoke(args=["crm", "rules", "simulate", key])
    assert result.exit_code == 0, f"{filename}: {result.output}\n{result.exception!r}"
    last = find_process(key).happy_path()[-1]
    last_name = find_process(key).stage(last).name
    lines = result.output.splitlines()
    assert any(line.startswith("Переход") and line.endswith(f"→ «{last_name}»")
               or line == f"Начало: этап «{last_name}»" for line in lines), result.output
