"""`flask crm ...` commands."""
from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import click
from flask import current_app
from flask.cli import AppGroup
from rq import Queue
from sqlalchemy.exc import IntegrityError
from werkzeug.serving import run_simple

from app import throttle
from app.access import role_labels
from app.demo import load_demo
from app.extensions import db
from app.formatting import format_datetime, to_local
from app.seeding import seed_all
from errors import DefinitionError
from jobs.embedded import start
from jobs.queues import QUEUE_NAMES, redis_connection
from jobs.scheduler import run_forever, tick
from jobs.stats import queue_stats
from jobs.worker import make_worker
from models.base import acting_as, utcnow
from models.pipeline import PIPELINE_ENTITY_LABELS
from process.catalog import (active_process, active_version, active_versions, check_all,
                             check_file, find_process, install_file, parse_text, shipped_files,
                             simulate)
from process.people import users_with_role
from process.reports import create_reports
from process.trash import purge_expired

crm = AppGroup("crm", help="Команды CRM: начальные данные, демо-данные, проверки.")


@crm.command("seed")
def seed_command():
    """Роли, права, меню, справочники и администратор (повторный запуск безопасен)."""
    for line in seed_all():
        click.echo(line)


@crm.command("demo")
@click.option("--deals", default=40, show_default=True, help="Сколько сделок создать.")
@click.option("--seed", "random_seed", default=2026, show_default=True,
              help="Зерно генератора: одинаковое зерно — одинаковые данные.")
def demo_command(deals: int, random_seed: int):
    """Демо-данные на русском: пользователи по ролям, контрагенты, сделки, задачи..."""
    for line in load_demo(deals=deals, random_seed=random_seed):
        click.echo(line)


@crm.command("unlock")
@click.argument("login")
def unlock_command(login: str):
    """Снять блокировку входа после неверных паролей (логин или e-mail)."""
    sm = current_app.appbuilder.sm
    user = sm.find_user(username=login) or sm.find_user(email=login)
    if user is None:
        click.echo(f"Пользователь «{login}» не найден", err=True)
        raise SystemExit(1)
    had = throttle.unlock(user)
    db.session.commit()
    if had:
        click.echo(f"Блокировка входа снята: {user.username}")
    else:
        click.echo(f"Вход пользователя {user.username} не был заблокирован; счётчик "
                   "неудачных попыток сброшен")


# --- process definitions ----------------------------------------------------------------

rules = AppGroup("rules", help="Процессы: проверка, установка, список, симуляция.")
crm.add_command(rules)


@rules.command("check")
def rules_check_command():
    """Проверить все поставляемые и установленные определения процессов."""
    problems = check_all()
    for path in shipped_files():
        if check_file(path) is None:
            click.echo(f"OK {path.name}")
    for problem in problems:
        click.echo(problem, err=True)
    for warning in unheld_role_warnings():
        click.echo(warning, err=True)
    if problems:
        raise SystemExit(1)


def unheld_role_warnings() -> list[str]:
    """Roles the installed definitions address that no active user holds: their tasks go
    to the record's responsible until someone is given the role."""
    out = []
    for version in active_versions():
        process = active_process(version.process_key)
        for role in sorted(_roles_of(process)):
            if not users_with_role(role):
                out.append(f"Внимание: процесс «{process.name}» адресует задачи роли "
                           f"«{role_labels().get(role, role)}», но ни один активный "
                           "пользователь её не имеет")
    return out


def _roles_of(process) -> set[str]:
    found: set[str] = set()

    def walk(value):
        if isinstance(value, dict):
            if isinstance(value.get("role"), str):
                found.add(value["role"])
            for item in value.values():
                walk(item)
        elif isinstance(value, (list, tuple)):
            for item in value:
                walk(item)

    for _stage, action in (process.rules or {}).values() if process else ():
        walk(action.params)
    return found


@rules.command("install")
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--user", "username", default=None, help="Кто устанавливает (логин).")
def rules_install_command(files, username):
    """Установить определения из файлов YAML (неверный файл не устанавливается)."""
    user_id = None
    if username:
        user = current_app.appbuilder.sm.find_user(username=username)
        if user is None:
            click.echo(f"Пользователь «{username}» не найден", err=True)
            raise SystemExit(1)
        user_id = user.id
    failed = False
    for name in files:
        path = Path(name)
        try:
            if not path.is_file():
                raise DefinitionError(f"{path.name}: файл не найден")
            before = None
            try:
                key = parse_text(path.read_text(encoding="utf-8"), path.name).key
                before = active_version(key)
            except (DefinitionError, UnicodeDecodeError):
                pass  # install_file reports it with the same sentence
            before_id = before.id if before else None
            version = install_file(path, user_id)
            db.session.commit()
        except DefinitionError as exc:
            db.session.rollback()
            click.echo(exc.message, err=True)
            failed = True
            continue
        if version.id == before_id:
            click.echo(f"{path.name}: процесс «{version.name}» не изменился, активна версия "
                       f"{version.version}")
        else:
            click.echo(f"{path.name}: процесс «{version.name}» установлен, версия "
                       f"{version.version}")
    if failed:
        raise SystemExit(1)


@rules.command("list")
def rules_list_command():
    """Установленные процессы: активная версия, кто и когда установил."""
    versions = active_versions()
    if not versions:
        click.echo("Процессы не установлены")
    for v in versions:
        who = v.installed_by.username if v.installed_by else "система"
        click.echo(f"{v.process_key}\t{v.name}\t{PIPELINE_ENTITY_LABELS.get(v.entity, v.entity)}"
                   f"\tверсия {v.version}\t{who}\t{format_datetime(v.installed_at)}"
                   f"\t{v.filename}")


@rules.command("simulate")
@click.argument("process_key")
@click.option("--stages", default=None, help="Этапы через запятую (по умолчанию: успешный путь).")
@click.option("--values", "values_json", default=None,
              help='Значения полей записи в JSON, например {"budget": 600000}.')
@click.option("--now", "now_text", default=None,
              help="Время начала (местное), ДД.ММ.ГГГГ ЧЧ:ММ; по умолчанию сейчас.")
def rules_simulate_command(process_key, stages, values_json, now_text):
    """Провести пример записи по процессу без записи в базу."""
    process = find_process(process_key)
    if process is None:
        click.echo(f"Процесс «{process_key}» не найден", err=True)
        raise SystemExit(1)
    values = {}
    if values_json:
        try:
            values = json.loads(values_json)
        except ValueError:
            values = None
        if not isinstance(values, dict):
            click.echo('--values: ожидается объект JSON, например {"budget": 600000}', err=True)
            raise SystemExit(1)
    path = None
    if stages:
        path = [s.strip() for s in stages.split(",") if s.strip()]
        known = [s.key for s in process.stages]
        unknown = [s for s in path if s not in known]
        if unknown:
            click.echo(f"В процессе «{process.name}» нет этапов: {', '.join(unknown)}; есть: "
                       + ", ".join(known), err=True)
            raise SystemExit(1)
    now = None
    if now_text:
        try:
            now = dt.datetime.strptime(now_text.strip(), "%d.%m.%Y %H:%M")
        except ValueError:
            click.echo("--now: ожидается ДД.ММ.ГГГГ ЧЧ:ММ, например 02.03.2026 10:00",
                       err=True)
            raise SystemExit(1) from None
    for line in simulate(process, path, values, now):
        click.echo(line)


def install(app) -> None:
    if "crm" not in app.cli.commands:
        app.cli.add_command(crm)


# --- the recycle bin ----------------------------------------------------------------------

trash = AppGroup("trash", help="Корзина: удалённые записи.")
crm.add_command(trash)


@trash.command("purge")
def trash_purge_command():
    """Удалить навсегда то, что пролежало в корзине дольше TRASH_RETENTION_DAYS (файлы тоже).
    То же делает ежедневное задание планировщика «Очистка корзины»."""
    purged, refused = purge_expired()
    db.session.commit()
    click.echo(f"Удалено навсегда: {purged}")
    for message in refused:
        click.echo(f"Не удалено: {message}", err=True)


# --- employees' reports ----------------------------------------------------------------------

reports = AppGroup("reports", help="Отчёты сотрудников: задачи-отчёты за день и неделю.")
crm.add_command(reports)


def _report_day(text: str | None) -> dt.date:
    if not text:
        return to_local(utcnow()).date()
    for fmt in ("%Y-%m-%d", "%d.%m.%Y"):
        try:
            return dt.datetime.strptime(text.strip(), fmt).date()
        except ValueError:
            continue
    click.echo(f"--date: неверная дата «{text}», ожидается ГГГГ-ММ-ДД, например 2027-01-11",
               err=True)
    raise SystemExit(1)


@reports.command("create")
@click.option("--date", "date_text", default=None,
              help="День (ГГГГ-ММ-ДД); по умолчанию сегодня.")
def reports_create_command(date_text: str | None):
    """Поставить задачи-отчёты дня (и недели, если их ещё нет) по действующим планам.
    Повторный запуск ничего не добавляет; в нерабочий день задачи не ставятся.
    То же делает ежедневное задание планировщика «Отчёты сотрудников»."""
    day = _report_day(date_text)
    for attempt in (1, 2):
        try:
            with acting_as(None):
                result = create_reports(day)
            db.session.commit()
            break
        except IntegrityError:
            # The scheduler made some of them at the same moment: the second pass skips those.
            db.session.rollback()
            if attempt == 2:
                raise
    if not result.working:
        click.echo(f"{day:%d.%m.%Y} — нерабочий день: задачи-отчёты не ставятся")
        return
    click.echo(f"Отчёты на {day:%d.%m.%Y}: поставлено задач {result.created}, "
               f"уже были {result.existing}")


@crm.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8080, show_default=True, type=int)
def serve_command(host: str, port: int):
    """Веб-сервер; без REDIS_URL он же выполняет напоминания и рассылки (встроенный режим)."""
    app = current_app._get_current_object()
    if start(app) is not None:
        click.echo("Встроенный исполнитель заданий запущен (REDIS_URL не задан).")
    else:
        click.echo("REDIS_URL задан: задания выполняют `flask crm scheduler` и "
                   "`flask crm worker`.")
    # Flask's app.run() refuses to start under the `flask` command; the server it wraps
    # does not, and one process keeps the embedded scheduler beside the requests.
    run_simple(host, port, app, use_reloader=False, threaded=True)


@crm.command("scheduler")
@click.option("--once", is_flag=True, help="Один проход и выход.")
@click.option("--interval", type=float, default=None, help="Пауза между проходами, с.")
def scheduler_command(once: bool, interval: float | None):
    """Планировщик: передаёт наступившие напоминания и исходящие сообщения исполнителям.
    Без REDIS_URL выполняет их сам. Два планировщика одновременно безопасны."""
    if once:
        result = tick()
        click.echo(f"Передано: расписание {result.schedule}, сообщения {result.outbox}"
                   + (" (работает другой планировщик)" if result.skipped else ""))
        return
    click.echo("Планировщик запущен; остановка: Ctrl+C.")
    try:
        run_forever(interval or float(current_app.config.get("SCHEDULER_INTERVAL", 1)))
    except KeyboardInterrupt:
        pass


@crm.command("worker")
@click.option("--burst", is_flag=True, help="Выполнить очередь и выйти.")
@click.option("--queue", "queue_names", multiple=True,
              help="Очередь (можно несколько); по умолчанию все очереди CRM.")
@click.option("--name", default=None, help="Имя обработчика (видно в «Очереди»).")
def worker_command(burst: bool, queue_names: tuple, name: str | None):
    """Обработчик RQ с уже загруженным приложением (REDIS_URL обязателен)."""
    connection = redis_connection()
    if connection is None:
        click.echo("REDIS_URL не задан: без Redis задания выполняет `flask crm serve` "
                   "или `flask crm scheduler`.", err=True)
        raise SystemExit(2)
    names = queue_names or QUEUE_NAMES
    unknown = [q for q in names if q not in QUEUE_NAMES]
    if unknown:
        click.echo("Неизвестная очередь: " + ", ".join(unknown), err=True)
        raise SystemExit(2)
    # SimpleWorker: the jobs run in this process, where the app and its imports are loaded
    # (a forking worker re-imports them per job: 0.7 jobs/s here, see STACK_NOTES); with a
    # heartbeat that tells the scheduler within seconds that it died (jobs/worker.py).
    worker = make_worker([Queue(q, connection=connection) for q in names], connection, name,
                         current_app.config)
    worker.work(burst=burst, with_scheduler=False, logging_level="WARNING")


@crm.command("jobs")
def jobs_command():
    """Состояние заданий: сколько ждёт, в очереди, с ошибкой; очереди и обработчики."""
    stats = queue_stats()
    schedule = stats["schedule"]
    click.echo("Режим: " + ("Redis и обработчики RQ" if stats["mode"] == "redis"
                            else "встроенный исполнитель (без Redis)"))
    if stats["redis_error"]:
        click.echo(f"Redis недоступен: {stats['redis_error']}")
    click.echo(f"Расписание: к выполнению сейчас {schedule['pending_due']}, "
               f"ждут своего срока {schedule['pending_later']}, "
               f"в очереди {schedule['enqueued']}, с ошибкой {schedule['failed']}")
    if schedule["oldest_late_seconds"]:
        click.echo(f"Самое давнее невыполненное опаздывает на "
                   f"{schedule['oldest_late_seconds']} с")
    for row in stats["outbox"]:
        click.echo(f"Исходящие «{row['label']}»: {row['count']}")
    for queue in stats["queues"]:
        click.echo(f"Очередь {queue['name']}: ждут {queue['count']}, выполняются "
                   f"{queue['started']}, с ошибкой {queue['failed']}")
    for worker in stats["workers"]:
        click.echo(f"Обработчик {worker['name']}: {worker['state']}"
                   + (" (не отвечает)" if worker["stale"] else ""))
