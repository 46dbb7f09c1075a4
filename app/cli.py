"""`flask crm ...` commands."""
from __future__ import annotations

import click
from flask.cli import AppGroup

crm = AppGroup("crm", help="Команды CRM: начальные данные, демо-данные, проверки.")


@crm.command("seed")
def seed_command():
    """Роли, права, меню, справочники и администратор (повторный запуск безопасен)."""
    from app.seeding import seed_all

    for line in seed_all():
        click.echo(line)


@crm.command("demo")
@click.option("--deals", default=40, show_default=True, help="Сколько сделок создать.")
@click.option("--seed", "random_seed", default=2026, show_default=True,
              help="Зерно генератора: одинаковое зерно — одинаковые данные.")
def demo_command(deals: int, random_seed: int):
    """Демо-данные на русском: пользователи по ролям, контрагенты, сделки, задачи..."""
    from app.demo import load_demo

    for line in load_demo(deals=deals, random_seed=random_seed):
        click.echo(line)


def install(app) -> None:
    if "crm" not in app.cli.commands:
        app.cli.add_command(crm)
