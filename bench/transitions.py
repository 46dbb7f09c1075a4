"""Benchmark: stage moves through the transition service, and row-scoped deal lists.

    .venv/bin/python bench/transitions.py [--deals 500]

Uses DATABASE_URL (default: a fresh SQLite file in a temporary folder); the database is
built from the models and seeded, so do not point it at a database you care about. Prints
figures and, last, one JSON line."""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--deals", type=int, default=500)
    args = parser.parse_args()
    url = os.environ.get("DATABASE_URL") or \
        f"sqlite:///{tempfile.mkdtemp(prefix='crm-bench-')}/bench.sqlite3"

    from sqlalchemy import event, select, text

    from app import create_app
    from process import catalog as processes, service as transitions
    from app.extensions import db
    from app.seeding import seed_all
    from models.base import acting_as
    from models.deal import Deal
    from models.party import Company
    from models.pipeline import Pipeline, Stage
    from models.task import Task
    from tests.factories import PASSWORD, make_role_users

    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "WTF_CSRF_ENABLED": False,
                      "FAB_PASSWORD_HASH_METHOD": "pbkdf2:sha256:1", "TESTING": True})
    with app.app_context():
        if url.startswith("postgresql"):
            db.session.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
            db.session.commit()
        db.create_all()
        seed_all()
        make_role_users()
        processes.install_shipped()
        db.session.commit()
        sales = db.session.scalar(select(Pipeline).where(Pipeline.code == "sales"))
        stage = {s.key: s for s in db.session.scalars(select(Stage).where(
            Stage.pipeline_id == sales.id))}
        manager = app.appbuilder.sm.find_user(username="manager")
        others = [app.appbuilder.sm.find_user(username=u) for u in ("manager2", "outsider")]
        company = Company(kind="person", name="Бенчмарков Б. Б.", email="b@example.ru")
        db.session.add(company)
        db.session.commit()

        create_ms, move_ms, move_cpu_ms, move_queries = [], [], [], []
        statements = []
        event.listen(db.engine, "before_cursor_execute",
                     lambda *args, **kw: statements.append(1))
        with acting_as(manager.id):
            for i in range(args.deals):
                owner = manager if i % 3 == 0 else others[i % 2]
                t0 = time.perf_counter()
                deal = Deal(title=f"Сделка {i}", pipeline=sales, stage=stage["new"],
                            responsible_id=owner.id, company=company,
                            custom={"priority": "A", "delivery_term": "2026-12-01"})
                transitions.transition(deal, "new", source="bench", from_key=None)
                db.session.commit()
                create_ms.append((time.perf_counter() - t0) * 1000)
                statements.clear()
                t0, c0 = time.perf_counter(), time.process_time()
                transitions.transition(deal, "in_work", source="bench")
                db.session.commit()
                move_ms.append((time.perf_counter() - t0) * 1000)
                # CPU time too: on a shared machine it moves less with the other work.
                move_cpu_ms.append((time.process_time() - c0) * 1000)
                move_queries.append(len(statements))
        tasks = db.session.scalar(select(Task.id).order_by(Task.id.desc()).limit(1))

        http = app.test_client()

        def list_ms(username):
            http.get("/logout/")
            http.post("/login/", data={"username": username, "password": PASSWORD})
            samples = []
            for _ in range(10):
                statements.clear()
                t0 = time.perf_counter()
                resp = http.get("/dealview/list/")
                samples.append((time.perf_counter() - t0) * 1000)
                assert resp.status_code == 200
            return statistics.median(samples), len(statements)

        (list_manager, queries_manager), (list_director, queries_director) = \
            list_ms("manager"), list_ms("director")

    def pct(values, q):
        return sorted(values)[min(len(values) - 1, int(len(values) * q))]

    result = {
        "database": url.split(":")[0], "deals": args.deals, "tasks_created": tasks,
        "create_p50_ms": round(pct(create_ms, 0.5), 1),
        "create_p95_ms": round(pct(create_ms, 0.95), 1),
        "move_p50_ms": round(pct(move_ms, 0.5), 1), "move_p95_ms": round(pct(move_ms, 0.95), 1),
        "moves_per_s": round(1000 / statistics.mean(move_ms), 1),
        "move_cpu_p50_ms": round(pct(move_cpu_ms, 0.5), 1),
        "move_queries": statistics.median(move_queries),
        "list_manager_ms": round(list_manager, 1), "list_director_ms": round(list_director, 1),
        "list_manager_queries": queries_manager, "list_director_queries": queries_director,
    }
    print(f"{args.deals} deals on {result['database']}: create+enter «Новая заявка» "
          f"p50 {result['create_p50_ms']} ms, p95 {result['create_p95_ms']} ms")
    print(f"move to «Взят в работу» (client letter, task, history): p50 {result['move_p50_ms']} ms,"
          f" p95 {result['move_p95_ms']} ms, {result['moves_per_s']} moves/s, CPU p50 "
          f"{result['move_cpu_p50_ms']} ms, {result['move_queries']} SQL statements a move "
          "(median)")
    print(f"deal list page (25 rows): manager (row rules) {result['list_manager_ms']} ms, "
          f"{queries_manager} SQL statements; director (all) {result['list_director_ms']} ms, "
          f"{queries_director} SQL statements")
    print(json.dumps(result, ensure_ascii=False))


if __name__ == "__main__":
    main()
