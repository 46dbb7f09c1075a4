"""Benchmark: list screens on a large database (PostgreSQL).

    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/bench_x \\
        .venv/bin/python bench/lists.py [--deals 1000000] [--runs 5] [--force]

Builds the data once by COPY (1 000 000 deals, 500 000 companies and contacts, ~2 000 000
tasks, leads, events, orders, a few thousand users in sales and other departments), then
times every list page through the app's test client, signed in by cookie as a manager, the
head of their sales department and the director: median ms over the runs, the number of SQL
statements, the response size; and, for comparison, the same page's two queries (count and
the first 25 rows under the same row rule) as plain SQL. Last, the process's memory.

A database that already holds this benchmark's data of the same size is reused (the schema
is brought to the newest migration first, so new indexes are built on it); one holding
other business rows is refused unless --force, which empties it. Prints figures and, last,
one JSON line."""
from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import multiprocessing
import os
import random
import resource
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import event, select, text  # noqa: E402
from werkzeug.security import generate_password_hash  # noqa: E402

PASSWORD = "bench-Pa55word"
MARKER = "bench_director"  # the username that tells this benchmark's data
SALES_DEPARTMENTS = 5
MANAGERS_PER_DEPARTMENT = 10
OPEN_TASK_SHARE = 0.1
PAGES = {  # name: URL of the list
    "deals": "/dealview/list/",
    "deals «Нет задач»": "/dealview/list/?_flt_0_has_open_task=1",
    "leads": "/leadview/list/",
    "companies": "/companyview/list/",
    "contacts": "/contactview/list/",
    "tasks": "/taskview/list/",
    "Мои задачи": "/mytaskview/list/",
    "events": "/eventview/list/",
    "orders": "/orderview/list/",
}
ROLES = ("manager", "sales_head", "director")


# --- arguments and the app ------------------------------------------------------------------

def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--deals", type=int, default=1_000_000)
    parser.add_argument("--companies", type=int, help="default: half the deals")
    parser.add_argument("--tasks", type=int, help="default: twice the deals")
    parser.add_argument("--leads", type=int, help="default: a third of the deals")
    parser.add_argument("--events", type=int, help="default: a fifth of the deals")
    parser.add_argument("--orders", type=int, help="default: a tenth of the deals")
    parser.add_argument("--users", type=int, default=3000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--pages", help="comma-separated page names (default: all)")
    parser.add_argument("--force", action="store_true",
                        help="empty a database that holds other business rows")
    args = parser.parse_args(argv)
    args.companies = args.companies if args.companies is not None else args.deals // 2
    args.contacts = args.companies
    args.tasks = args.tasks if args.tasks is not None else args.deals * 2
    args.leads = args.leads if args.leads is not None else args.deals // 3
    args.events = args.events if args.events is not None else args.deals // 5
    args.orders = args.orders if args.orders is not None else args.deals // 10
    args.url = os.environ.get("DATABASE_URL", "")
    if not args.url.startswith("postgresql"):
        parser.error("DATABASE_URL must point at a PostgreSQL database (the data is COPYed)")
    return args


def make_app(url: str):
    from app import create_app

    return create_app({"SQLALCHEMY_DATABASE_URI": url, "WTF_CSRF_ENABLED": False,
                       "TESTING": True, "FAB_PASSWORD_HASH_METHOD": "pbkdf2:sha256:1"})


# --- building the data ----------------------------------------------------------------------

BUSINESS_TABLES = ("deal", "lead", "company", "contact", "task", "event", "customer_order")


def prepare(args) -> None:
    """The schema at the newest migration, and the data: reused, refused or built."""
    from flask_migrate import upgrade

    from app.extensions import db
    from config import BASE_DIR

    app = make_app(args.url)
    with app.app_context():
        upgrade(directory=str(BASE_DIR / "migrations"))
        counts = {t: db.session.scalar(text(f'SELECT count(*) FROM "{t}"'))
                  for t in BUSINESS_TABLES}
        ours = db.session.scalar(text("SELECT count(*) FROM ab_user WHERE username = :u"),
                                 {"u": MARKER})
        if ours and counts["deal"] == args.deals and counts["company"] == args.companies:
            print(f"reusing the data: {counts}")
            db.session.execute(text("ANALYZE"))
            db.session.commit()
            return
        if any(counts.values()) and not args.force:
            sys.exit(f"the database holds business rows {counts}: refusing (use --force to "
                     "empty it)")
        db.session.remove()
        db.engine.dispose()
    # A child process builds: the tuples it makes must not count in the measured memory.
    builder = multiprocessing.get_context("spawn").Process(target=build, args=(args,))
    builder.start()
    builder.join()
    if builder.exitcode != 0:
        sys.exit("building the data failed")


def build(args) -> None:
    from app.extensions import db
    from app.seeding import seed_all

    app = make_app(args.url)
    rnd = random.Random(20261201)
    t0 = time.perf_counter()
    with app.app_context():
        empty_business_tables(db)
        seed_all()
        db.session.commit()
        ctx = Context(app, db, rnd, args)
        ctx.users()
        raw = db.engine.raw_connection()
        try:
            cur = raw.cursor()
            for name, rows in (("company", ctx.companies()), ("contact", ctx.contacts()),
                               ("lead", ctx.leads()), ("deal", ctx.deals()),
                               ("deal_observer", ctx.observers()), ("task", ctx.tasks()),
                               ("event", ctx.events()), ("customer_order", ctx.orders())):
                t1 = time.perf_counter()
                columns, count = copy_rows(cur, name, rows)
                print(f"  {name}: {count} rows in {time.perf_counter() - t1:.0f} s",
                      flush=True)
            for table in ("company", "contact", "lead", "deal", "task", "event",
                          "customer_order"):
                cur.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                            f"(SELECT max(id) FROM {table}))")
            raw.commit()
        finally:
            raw.close()
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE"))
    print(f"data built in {time.perf_counter() - t0:.0f} s", flush=True)


def empty_business_tables(db) -> None:
    tables = [t.name for t in db.metadata.sorted_tables
              if not t.name.startswith("ab_") and t.name not in (
                  "alembic_version", "seed_record", "reference_list", "reference_item",
                  "department")]
    db.session.execute(text("TRUNCATE " + ", ".join(f'"{t}"' for t in tables)
                            + " RESTART IDENTITY CASCADE"))
    db.session.execute(text("UPDATE department SET head_id = NULL"))
    db.session.execute(text("DELETE FROM ab_user_role WHERE user_id IN (SELECT id FROM ab_user "
                            "WHERE username LIKE 'bench%')"))
    db.session.execute(text("DELETE FROM ab_user WHERE username LIKE 'bench%'"))
    db.session.execute(text("DELETE FROM department WHERE code LIKE 'bench%'"))
    db.session.commit()


def copy_rows(cur, table: str, rows):
    """COPY an iterator of (columns, tuple) batches: the first item is the column list."""
    rows = iter(rows)
    columns = next(rows)
    count = 0
    with cur.copy(f'COPY "{table}" ({", ".join(columns)}) FROM STDIN') as copy:
        for row in rows:
            copy.write_row(row)
            count += 1
    return columns, count


class Context:
    """The generated world: users by role and department, pipelines and their stages."""

    def __init__(self, app, db, rnd, args):
        self.app, self.db, self.rnd, self.args = app, db, rnd, args
        self.now = dt.datetime(2026, 12, 1, 9, 0)
        self.start = self.now - dt.timedelta(days=3 * 365)
        self.lead_ids: list[int] = []
        self.deal_owner: dict[int, int] = {}

    # users ------------------------------------------------------------------------------
    def users(self) -> None:
        from models.user import Department

        sm, db = self.app.appbuilder.sm, self.db
        roles = {r.name: r.id for r in db.session.scalars(select(sm.role_model))}
        pw = generate_password_hash(PASSWORD, method="pbkdf2:sha256:1")
        rows, user_roles = [], []
        next_id = (db.session.scalar(text("SELECT max(id) FROM ab_user")) or 0) + 1
        self.managers, self.heads, self.department_of = [], [], {}
        self.others: list[int] = []

        def add(username, role, department_id=None):
            nonlocal next_id
            uid = next_id
            next_id += 1
            rows.append({"id": uid, "first_name": "Бенч", "last_name": f"Сотрудник {uid}",
                         "username": username, "password": pw, "active": True,
                         "email": f"{username}@bench.example", "created_on": self.now,
                         "changed_on": self.now, "department_id": department_id,
                         "notify_email": False})
            user_roles.append({"user_id": uid, "role_id": roles[role]})
            return uid

        departments = []
        for d in range(SALES_DEPARTMENTS):
            dep = Department(code=f"bench_sales_{d}", name=f"Бенч: отдел продаж {d + 1}")
            db.session.add(dep)
            departments.append(dep)
        execution = Department(code="bench_execution", name="Бенч: отдел исполнения")
        db.session.add(execution)
        db.session.flush()
        self.director = add(MARKER, "director")
        for d, dep in enumerate(departments):
            self.heads.append(add(f"bench_head_{d}", "sales_head", dep.id))
            for m in range(MANAGERS_PER_DEPARTMENT):
                uid = add(f"bench_manager_{d}_{m}", "manager", dep.id)
                self.managers.append(uid)
                self.department_of[uid] = d
        self.executors = [add(f"bench_executor_{i}", "executor", execution.id)
                          for i in range(max(10, self.args.users // 20))]
        other_roles = ("employee", "engineer", "designer", "logistician", "secretary")
        while len(rows) < self.args.users:
            i = len(rows)
            self.others.append(add(f"bench_user_{i}", other_roles[i % len(other_roles)],
                                   execution.id))
        from models.user import CrmUser
        from flask_appbuilder.security.sqla.models import assoc_user_role

        with db.session.no_autoflush:
            db.session.execute(CrmUser.__table__.insert(), rows)
            db.session.execute(assoc_user_role.insert(), user_roles)
        for dep, head in zip(departments, self.heads):
            dep.head_id = head
        db.session.commit()
        self.everyone = self.managers + self.heads + self.executors + self.others
        self._pipelines()

    def _pipelines(self) -> None:
        from models.pipeline import Pipeline, Stage

        db = self.db
        self.pipelines = {}
        for p in db.session.scalars(select(Pipeline)):
            stages = db.session.scalars(select(Stage).where(Stage.pipeline_id == p.id)
                                        .order_by(Stage.sort_order)).all()
            self.pipelines[p.code] = (p, stages)
        from models.reference import ReferenceItem, ReferenceList

        def items(code):
            return db.session.scalars(select(ReferenceItem.id).join(ReferenceList)
                                      .where(ReferenceList.code == code)).all()

        self.sources = items("lead_source") or [None]
        self.topics = items("event_topic") or [None]

    def when(self, i: int, total: int) -> dt.datetime:
        """Records are made over three years, in id order, a little shuffled."""
        span = (self.now - self.start).total_seconds()
        seconds = span * (i / max(total, 1)) + self.rnd.uniform(-3600, 3600)
        return self.start + dt.timedelta(seconds=max(0.0, min(span, seconds)))

    def owner(self) -> int:
        # Managers own almost everything in sales; a few records belong to others.
        return self.rnd.choice(self.managers) if self.rnd.random() < 0.97 else \
            self.rnd.choice(self.everyone)

    # companies and contacts ---------------------------------------------------------------
    def companies(self):
        yield ["id", "kind", "name", "inn", "phone", "email", "responsible_id", "created_at",
               "updated_at", "created_by_id"]
        n, rnd = self.args.companies, self.rnd
        for i in range(1, n + 1):
            at = self.when(i, n)
            owner = self.owner()
            yield (i, "legal", f"ООО «Компания {i:07d}»", f"{rnd.randrange(10**9, 10**10)}",
                   f"+7 900 {i % 10**7:07d}", f"office{i}@company.example", owner, at, at,
                   owner)

    def contacts(self):
        yield ["id", "last_name", "first_name", "company_id", "phone", "email",
               "decision_maker", "created_at", "updated_at", "created_by_id"]
        n = self.args.contacts
        for i in range(1, n + 1):
            at = self.when(i, n)
            company = i if i <= self.args.companies else None
            yield (i, f"Контактов{i % 9973}", f"Имя{i % 311}", company,
                   f"+7 901 {i % 10**7:07d}", f"person{i}@mail.example", i % 5 == 0, at, at,
                   self.owner())

    # leads and deals ----------------------------------------------------------------------
    def _stage_for(self, stages, rnd, rare_keys=()):
        """Most records are closed; of the open stages, the ones everybody sees as a
        participant (a new request) hold only a few."""
        won = [s for s in stages if s.kind == "won"]
        lost = [s for s in stages if s.kind == "lost"]
        open_ = [s for s in stages if s.kind == "open" and s.key not in rare_keys]
        roll = rnd.random()
        if roll < 0.4 and won:
            return won[0]
        if roll < 0.7 and lost:
            return lost[0]
        if roll < 0.7002 or not open_:
            rare = [s for s in stages if s.key in rare_keys] or open_ or stages
            return rnd.choice(rare)
        return rnd.choice(open_)

    def leads(self):
        yield ["id", "title", "pipeline_id", "stage_id", "stage_entered_at", "source_id",
               "responsible_id", "company_name", "phone", "version", "created_at",
               "updated_at", "created_by_id"]
        pipeline, stages = next(v for v in self.pipelines.values() if v[0].entity == "lead")
        n, rnd = self.args.leads, self.rnd
        for i in range(1, n + 1):
            at = self.when(i, n)
            owner = self.owner()
            stage = self._stage_for(stages, rnd, rare_keys=("new",))
            yield (i, f"Заявка {i}", pipeline.id, stage.id, at, rnd.choice(self.sources),
                   owner, f"ООО «Клиент {i}»", f"+7 902 {i % 10**7:07d}", 1, at, at, owner)

    def deals(self):
        yield ["id", "title", "budget", "budget_manual", "responsible_id", "source_id",
               "company_id", "closed_at", "pipeline_id", "stage_id", "stage_entered_at",
               "version", "created_at", "updated_at", "created_by_id"]
        deal_pipelines = [v for v in self.pipelines.values() if v[0].entity == "deal"]
        weights = [6 if p.code == "sales" else 1 for p, _ in deal_pipelines]
        n, rnd = self.args.deals, self.rnd
        for i in range(1, n + 1):
            at = self.when(i, n)
            owner = self.owner()
            pipeline, stages = rnd.choices(deal_pipelines, weights)[0]
            stage = self._stage_for(stages, rnd, rare_keys=("new",))
            closed = at + dt.timedelta(days=rnd.randint(1, 60)) \
                if stage.kind in ("won", "lost") else None
            self.deal_owner[i] = owner
            company = rnd.randint(1, self.args.companies) if self.args.companies else None
            yield (i, f"Сделка {i}", rnd.randrange(10_000, 5_000_000), True, owner,
                   rnd.choice(self.sources), company, closed, pipeline.id, stage.id, at, 1,
                   at, closed or at, owner)

    def observers(self):
        yield ["deal_id", "user_id"]
        rnd = self.rnd
        for deal_id, owner in self.deal_owner.items():
            if rnd.random() < 0.05:
                other = rnd.choice(self.managers)
                if other != owner:
                    yield (deal_id, other)

    # tasks, events, orders ----------------------------------------------------------------
    def tasks(self):
        yield ["id", "title", "assignee_id", "creator_id", "deadline", "status", "closed_at",
               "record_entity", "record_id", "created_at", "updated_at", "created_by_id"]
        n, rnd = self.args.tasks, self.rnd
        deals, leads = self.args.deals, self.args.leads
        for i in range(1, n + 1):
            at = self.when(i, n)
            roll = rnd.random()
            if roll < 0.7 and deals:
                entity, record = "deal", rnd.randint(1, deals)
                assignee = self.deal_owner.get(record) if rnd.random() < 0.8 else None
            elif roll < 0.9 and leads:
                entity, record, assignee = "lead", rnd.randint(1, leads), None
            else:
                entity, record, assignee = None, None, None
            assignee = assignee or self.rnd.choice(self.everyone)
            is_open = rnd.random() < OPEN_TASK_SHARE
            status = rnd.choice(("open", "in_progress")) if is_open else \
                ("done" if rnd.random() < 0.9 else "cancelled")
            deadline = at + dt.timedelta(days=rnd.randint(0, 14))
            closed = None if is_open else deadline
            yield (i, f"Позвонить клиенту {i}", assignee, assignee, deadline, status, closed,
                   entity, record, at, closed or at, assignee)
        self.deal_owner.clear()

    def events(self):
        yield ["id", "number", "kind", "direction", "topic_id", "subject", "state",
               "started_at", "ended_at", "company_id", "responsible_id", "created_at",
               "updated_at", "created_by_id"]
        n, rnd = self.args.events, self.rnd
        for i in range(1, n + 1):
            at = self.when(i, n)
            owner = self.owner()
            yield (i, i, rnd.choice(("call", "email", "meeting")),
                   rnd.choice(("incoming", "outgoing")), rnd.choice(self.topics),
                   f"Разговор {i}", "completed", at, at + dt.timedelta(minutes=10),
                   rnd.randint(1, self.args.companies) if self.args.companies else None,
                   owner, at, at, owner)

    def orders(self):
        yield ["id", "number", "date", "company_id", "ship_date", "status", "total",
               "responsible_id", "executor_id", "requires_approval", "version", "created_at",
               "updated_at", "created_by_id"]
        n, rnd = self.args.orders, self.rnd
        if not self.args.companies:
            return
        for i in range(1, n + 1):
            at = self.when(i, n)
            owner = self.owner()
            yield (i, f"ЗП-{i:06d}", at, rnd.randint(1, self.args.companies),
                   (at + dt.timedelta(days=14)).date(),
                   rnd.choice(("done", "done", "done", "in_work", "agreed", "cancelled")),
                   rnd.randrange(1_000, 900_000), owner, rnd.choice(self.executors), False, 1,
                   at, at, owner)


# --- measuring ------------------------------------------------------------------------------

def rss_mb() -> float:
    """Resident memory now (VmRSS), MB."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class Bench:
    def __init__(self, app, args):
        from app.extensions import db

        self.app, self.args, self.db = app, args, db
        self.statements = 0
        event.listen(db.engine, "before_cursor_execute", self._count)

    def _count(self, *_args, **_kw):
        self.statements += 1

    def users(self) -> dict[str, str]:
        from models.user import CrmUser

        db = self.db
        head = db.session.scalar(select(CrmUser.username).where(
            CrmUser.username == "bench_head_0"))
        return {"manager": "bench_manager_0_0", "sales_head": head, "director": MARKER}

    def login(self, username: str):
        http = self.app.test_client()
        resp = http.post("/login/", data={"username": username, "password": PASSWORD})
        if resp.status_code != 302:
            sys.exit(f"login as {username} failed ({resp.status_code})")
        return http

    def page(self, http, url: str) -> dict:
        samples, size, statements = [], 0, 0
        for run in range(self.args.runs + 1):  # the first request warms up, not counted
            self.statements = 0
            t0 = time.perf_counter()
            resp = http.get(url)
            elapsed = (time.perf_counter() - t0) * 1000
            if resp.status_code != 200:
                return {"status": resp.status_code}
            if run:
                samples.append(elapsed)
            size, statements = len(resp.get_data()), self.statements
        return {"ms": round(statistics.median(samples), 1), "statements": statements,
                "kb": round(size / 1024, 1)}

    def peer(self, name: str, username: str) -> float | None:
        """The page's count and first 25 rows as plain SQL with the same row rule."""
        sql = peer_queries(self.db, name, username)
        if sql is None:
            return None
        conn = self.db.engine.raw_connection()
        try:
            cur = conn.cursor()
            samples = []
            for run in range(self.args.runs + 1):
                t0 = time.perf_counter()
                for statement, params in sql:
                    cur.execute(statement, params)
                    cur.fetchall()
                if run:
                    samples.append((time.perf_counter() - t0) * 1000)
            conn.rollback()
        finally:
            conn.close()
        return round(statistics.median(samples), 1)


def _rule_ids(db, username: str):
    """(user id, ids whose records the user sees or None for all, participant stage ids)."""
    from app.access import user_scope
    from models.user import CrmUser, Department

    user = db.session.scalar(select(CrmUser).where(CrmUser.username == username))
    scope = user_scope(r.name for r in user.roles)
    if scope == "all":
        return user.id, None
    ids = [user.id]
    if scope == "department":
        ids += db.session.scalars(select(CrmUser.id).where(CrmUser.department_id.in_(
            select(Department.id).where(Department.head_id == user.id)))).all()
    return user.id, ids


def _participant_stages(db, username: str, entity: str) -> list[int]:
    from models.pipeline import Stage
    from models.user import CrmUser
    from process.catalog import participant_stages

    user = db.session.scalar(select(CrmUser).where(CrmUser.username == username))
    out = []
    for pipeline_id, keys in participant_stages(entity, {r.name for r in user.roles}).items():
        out += db.session.scalars(select(Stage.id).where(Stage.pipeline_id == pipeline_id,
                                                         Stage.key.in_(keys))).all()
    return out


OPEN = "('open', 'in_progress')"
PEER = {
    # name: (table, columns of the page, ORDER BY, row rule with %(ids)s / %(me)s)
    "deals": ("deal", "id, title, stage_id, budget, company_id, responsible_id, custom, "
              "created_at", "created_at DESC, id DESC",
              "responsible_id = ANY(%(ids)s) OR created_by_id = ANY(%(ids)s) OR id IN "
              "(SELECT deal_id FROM deal_observer WHERE user_id = %(me)s) OR stage_id = "
              "ANY(%(stages)s) OR id IN (SELECT record_id FROM task WHERE record_entity = "
              f"'deal' AND assignee_id = %(me)s AND status IN {OPEN})"),
    "leads": ("lead", "id, title, stage_id, source_id, company_name, phone, responsible_id, "
              "created_at", "created_at DESC, id DESC",
              "responsible_id = ANY(%(ids)s) OR created_by_id = ANY(%(ids)s) OR id IN "
              "(SELECT lead_id FROM lead_observer WHERE user_id = %(me)s) OR stage_id = "
              "ANY(%(stages)s) OR id IN (SELECT record_id FROM task WHERE record_entity = "
              f"'lead' AND assignee_id = %(me)s AND status IN {OPEN})"),
    "companies": ("company", "id, name, kind, inn, phone, email, responsible_id", None, None),
    "contacts": ("contact", "id, last_name, first_name, company_id, position, phone, email",
                 None, None),
    "tasks": ("task", "id, title, status, assignee_id, creator_id, deadline, record_entity, "
              "record_id", "deadline ASC, id ASC",
              "assignee_id = ANY(%(ids)s) OR creator_id = ANY(%(ids)s) OR created_by_id = "
              "ANY(%(ids)s) OR id IN (SELECT task_id FROM task_observer WHERE user_id = "
              "%(me)s)"),
    "Мои задачи": ("task", "id, title, deadline, status, creator_id, record_entity, record_id",
                   "deadline ASC, id ASC",
                   f"assignee_id = %(me)s AND status IN {OPEN}"),
    "events": ("event", "id, number, kind, direction, topic_id, subject, company_id, state, "
               "started_at, responsible_id", "id DESC",
               "responsible_id = ANY(%(ids)s) OR created_by_id = ANY(%(ids)s) OR id IN "
               f"(SELECT record_id FROM task WHERE record_entity = 'event' AND assignee_id = "
               f"%(me)s AND status IN {OPEN})"),
    "orders": ("customer_order", "id, number, date, company_id, total, status, ship_date, "
               "responsible_id, executor_id", "id DESC",
               "responsible_id = ANY(%(ids)s) OR executor_id = ANY(%(ids)s) OR created_by_id "
               "= ANY(%(ids)s) OR id IN (SELECT record_id FROM task WHERE record_entity = "
               f"'order' AND assignee_id = %(me)s AND status IN {OPEN})"),
}


# Pages that are another page with a filter: (that page, the filter's condition).
PEER_FILTERED = {
    "deals «Нет задач»": ("deals", "NOT EXISTS (SELECT 1 FROM task WHERE record_entity = "
                          f"'deal' AND record_id = deal.id AND status IN {OPEN}) AND stage_id "
                          "IN (SELECT id FROM stage WHERE kind = 'open')"),
}


def peer_queries(db, name: str, username: str):
    base, condition = PEER_FILTERED.get(name, (name, None))
    if base not in PEER:
        return None
    table, columns, order, rule = PEER[base]
    me, ids = _rule_ids(db, username)
    entity = {"deal": "deal", "lead": "lead"}.get(table)
    params = {"me": me, "ids": ids or [],
              "stages": _participant_stages(db, username, entity) if entity else []}
    conditions = [rule] if rule and (ids is not None or name == "Мои задачи") else []
    conditions += [condition] if condition else []
    where = " WHERE " + " AND ".join(f"({c})" for c in conditions) if conditions else ""
    return [(f'SELECT count(*) FROM "{table}"{where}', params),
            (f'SELECT {columns} FROM "{table}"{where}'
             + (f" ORDER BY {order}" if order else "") + " LIMIT 25", params)]


def measure(args) -> dict:
    """Each request runs in its own app context, as in a web process; only the look-ups
    and the plain SQL of the peer take one here."""
    app = make_app(args.url)
    # FAB warns on every list that the test client's referrer is no redirect target.
    logging.getLogger("flask_appbuilder.utils.base").setLevel(logging.ERROR)
    pages = {k: v for k, v in PAGES.items()
             if not args.pages or k in args.pages.split(",")}
    result = {"deals": args.deals, "pages": {}}
    with app.app_context():
        bench = Bench(app, args)
        users = bench.users()
    rss_start = rss_mb()
    print(f"\n{'page':<20}{'role':<12}{'ms':>9}{'SQL':>6}{'KB':>9}{'peer ms':>9}")
    for name, url in pages.items():
        for role in ROLES:
            http = bench.login(users[role])
            figures = bench.page(http, url)
            with app.app_context():
                figures["peer_ms"] = peer = bench.peer(name, users[role])
            result["pages"].setdefault(name, {})[role] = figures
            if "ms" in figures:
                print(f"{name:<20}{role:<12}{figures['ms']:>9}{figures['statements']:>6}"
                      f"{figures['kb']:>9}{peer if peer is not None else '':>9}", flush=True)
            else:
                print(f"{name:<20}{role:<12}  HTTP {figures['status']}", flush=True)
    result["rss_mb"] = {"start": round(rss_start), "end": round(rss_mb()),
                        "peak": round(peak_rss_mb())}
    print(f"\nweb process memory: {result['rss_mb']['start']} MB before the pages, "
          f"{result['rss_mb']['end']} MB after, peak {result['rss_mb']['peak']} MB")
    return result


def main(argv=None) -> None:
    args = parse_args(argv)
    prepare(args)
    result = measure(args)
    print(json.dumps(result, ensure_ascii=False))


if __name__ == "__main__":
    main()
