"""`flask crm rules check | install | list | simulate`."""
from __future__ import annotations

from sqlalchemy import func, select

from app.extensions import db
from process.catalog import install_shipped
from models.process import ProcessVersion
from models.task import Task
from tests.test_process_install import sales_text


def _rules(runner, *args):
    return runner.invoke(args=["crm", "rules", *args])


def test_check_passes_on_the_shipped_files(app, runner):
    install_shipped()
    result = _rules(runner, "check")
    assert result.exit_code == 0, result.output
    assert "OK 001_sales.yaml" in result.output


def test_install_refuses_a_bad_file_with_its_sentence(app, runner, tmp_path):
    install_shipped()
    bad = tmp_path / "bad.yaml"
    bad.write_text("key: sales\nname: Продажа\nentity: deal\nstages: []\n", encoding="utf-8")
    result = _rules(runner, "install", str(bad))
    assert result.exit_code == 1
    assert "bad.yaml: stages: нужен хотя бы один этап" in result.output
    assert [v.version for v in db.session.scalars(select(ProcessVersion).where(
        ProcessVersion.process_key == "sales"))] == [1]
    result = _rules(runner, "install", str(tmp_path / "missing.yaml"))
    assert result.exit_code == 1 and "missing.yaml: файл не найден" in result.output


def test_install_and_list(app, runner, tmp_path):
    install_shipped()
    good = tmp_path / "sales_v2.yaml"
    good.write_text(sales_text().replace("name: КП\n", "name: Коммерческое предложение\n"),
                    encoding="utf-8")
    result = _rules(runner, "install", str(good), "--user", "admin")
    assert result.exit_code == 0, result.output
    assert "sales_v2.yaml: процесс «Продажа» установлен, версия 2" in result.output
    result = _rules(runner, "install", str(good))
    assert "не изменился, активна версия 2" in result.output
    result = _rules(runner, "list")
    assert result.exit_code == 0
    line = next(x for x in result.output.splitlines() if x.startswith("sales\t"))
    assert "Продажа" in line and "версия 2" in line and "admin" in line


def test_simulate_sales_prints_refusals_tasks_and_due_times(app, runner):
    install_shipped()
    db.session.commit()
    before = (db.session.scalar(select(func.count()).select_from(Task)),
              db.session.scalar(select(func.count()).select_from(ProcessVersion)))
    # Thursday 30 April 2026: 1 May is a public holiday, then a weekend.
    result = _rules(runner, "simulate", "sales", "--now", "30.04.2026 10:00")
    assert result.exit_code == 0, result.output
    out = result.output
    assert ("Отказ: Нельзя перейти на этап «Взят в работу»: не заполнены поля "
            "«Приоритет (А/В/С)», «Контрагент», «Срок поставки»") in out
    assert "Симуляция заполняет примерными значениями" in out
    assert "Задача «Взять заявку в работу» → роль «Менеджер по продажам», " \
           "срок 30.04.2026 11:00" in out
    assert "Задача «Проверить товарные позиции» → ответственный, срок 01.05.2026 10:00" in out
    # 2 working days from Thursday 30.04: Friday 1 May is a holiday -> Mon 4, Tue 5
    assert "Задача «Связаться с клиентом, получить обратную связь по КП» → ответственный, " \
           "срок 05.05.2026 10:00" in out
    assert "Задача «Проверить товарные позиции, отправить Счет клиенту»" in out  # 100 000
    assert "Ваш персональный менеджер Иванов Иван Иванович" in out
    # «Отгружен/Доставлен»: the акт is generated (the signed акт and УПД go to the accountant
    # once both are attached: not in a simulation, which attaches nothing)
    assert "Сформировать документ «Акт выполненных работ»" in out
    after = (db.session.scalar(select(func.count()).select_from(Task)),
             db.session.scalar(select(func.count()).select_from(ProcessVersion)))
    assert after == before  # no writes


def test_simulate_given_stages_and_values(app, runner):
    result = _rules(runner, "simulate", "sales", "--stages", "new,contract",
                    "--values", '{"budget": 600000}', "--now", "30.04.2026 10:00")
    assert result.exit_code == 0, result.output
    assert "Переход «Новая заявка» → «Договор»" in result.output
    assert "Задача «Отправить Счет, Договор на согласование внутри компании»" in result.output
    assert "«Договор» = Пример: Договор" not in result.output  # files get sample ids
    result = _rules(runner, "simulate", "sales", "--stages", "new,nowhere")
    assert result.exit_code == 1 and "нет этапов: nowhere" in result.output
    result = _rules(runner, "simulate", "sales", "--values", "[1]")
    assert result.exit_code == 1 and "--values: ожидается объект JSON" in result.output
    result = _rules(runner, "simulate", "nothing")
    assert result.exit_code == 1 and "Процесс «nothing» не найден" in result.output


def test_check_warns_of_roles_no_active_user_holds(app, runner):
    from models.user import CrmUser

    install_shipped()
    db.session.commit()
    assert "Метролог" not in _rules(runner, "check").output
    for user in db.session.scalars(select(CrmUser)).all():
        if any(role.name == "metrologist" for role in user.roles):
            user.active = False
    db.session.commit()
    result = _rules(runner, "check")
    assert result.exit_code == 0  # a warning, not a broken definition
    assert ("процесс «Продажа» адресует задачи роли «Метролог», но ни один активный "
            "пользователь её не имеет") in result.output
