"""Benchmark: one approver's inbox («Мои согласования») with many pending approvals.

    .venv/bin/python bench/approvals.py [--pending 10000] [--others 50000] [--runs 7]
    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/bench_appr .venv/bin/python \\
        bench/approvals.py

Uses DATABASE_URL (default: a fresh SQLite file in a temporary folder); the database is
built from the models, so do not point it at a database you care about. Writes `--pending`
approvals waiting for one head and `--others` for other people (the rows the index must
skip), then times, signed in as that head: the inbox page, the REST inbox, the top bar's
count, and an approval page: median server ms over the runs and the SQL statements of each,
at two sizes (a tenth, then all), so a count that grows with the data shows. For a peer,
the same inbox's two queries as plain SQL in the same run. Prints figures and, last, one
JSON line."""
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
    parser.add_argument("--pending", type=int, default=10_000)
    parser.add_argument("--others", type=int, default=50_000)
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    url = os.environ.get("DATABASE_URL") or \
        f"sqlite:///{tempfile.mkdtemp(prefix='crm-bench-')}/bench.sqlite3"

    from sqlalchemy import event, insert, text

    from app import create_app
    from app.extensions import db
    from app.seeding import seed_all
    from models.approval import Approval, ApprovalStep
    from models.base import utcnow
    from tests.factories import PASSWORD, make_role_users

    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "WTF_CSRF_ENABLED": False,
                      "FAB_PASSWORD_HASH_METHOD": "pbkdf2:sha256:1", "TESTING": True})
    results = {"database": url.split(":")[0]}
    with app.app_context():
        if url.startswith("postgresql"):
            db.session.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
            db.session.commit()
        db.create_all()
        seed_all()
        make_role_users()
        db.session.commit()
        sm = app.appbuilder.sm
        head = sm.find_user(username="sales_head")
        others = [sm.find_user(username=u).id for u in ("director", "accountant", "manager2")]
        requester = sm.find_user(username="manager").id
        statements = {"n": 0}
        event.listen(db.engine, "before_cursor_execute",
                     lambda *a, **k: statements.__setitem__("n", statements["n"] + 1))
        client = app.test_client()
        assert client.post("/login/", data={"username": "sales_head",
                                            "password": PASSWORD}).status_code == 302
        token = client.post("/api/v1/security/login", json={
            "username": "sales_head", "password": PASSWORD, "provider": "db"}).json
        bearer = {"Authorization": f"Bearer {token['access_token']}"}

        def fill(count: int, start: int) -> None:
            now = utcnow()
            route = {"steps": [{"name": "Руководитель", "approvers": ["requester_head"],
                                "mode": "one", "deadline": None}], "rework": "restart"}
            batch = 5000
            for first in range(start, start + count, batch):
                ids = range(first, min(first + batch, start + count))
                db.session.execute(insert(Approval), [
                    {"id": i, "title": f"Заявка на оплату № {i}", "entity": "deal",
                     "record_id": i, "process_key": "bench", "rule_key": "bench.rule",
                     "effect_key": f"bench:{i}", "status": "pending", "route": route,
                     "step_index": 0, "round": 1, "requester_id": requester,
                     "decisions": 0, "version": 1, "started_at": now} for i in ids])
                db.session.execute(insert(ApprovalStep), [
                    {"approval_id": i, "round": 1, "step_index": 0,
                     "step_name": "Руководитель", "mode": "one",
                     "user_id": head.id if i < start + share(count) else others[i % 3],
                     "status": "waiting", "created_at": now} for i in ids])
            db.session.commit()

        def share(count):
            return count * args.pending // (args.pending + args.others)

        pages = {"inbox page": ("/approvals/", {}),
                 "REST inbox": ("/api/v1/approval/", bearer),
                 "approval page": ("/approvals/1", {})}

        def measure(label):
            out = {}
            for name, (path, headers) in pages.items():
                samples = []
                for _ in range(args.runs):
                    statements["n"] = 0
                    t0 = time.perf_counter()
                    resp = client.get(path, headers=headers)
                    samples.append((time.perf_counter() - t0) * 1000)
                    assert resp.status_code == 200, (path, resp.status_code)
                out[name] = {"median_ms": round(statistics.median(samples), 1),
                             "statements": statements["n"]}
                print(f"  {label:>8} {name:14} median {out[name]['median_ms']:7.1f} ms, "
                      f"{out[name]['statements']} SQL statements", flush=True)
            t0 = time.perf_counter()
            samples = []
            for _ in range(args.runs):
                t0 = time.perf_counter()
                db.session.execute(text(
                    "SELECT count(*) FROM approval_step WHERE user_id = :u AND "
                    "status = 'waiting'"), {"u": head.id}).scalar()
                db.session.execute(text(
                    "SELECT * FROM approval_step JOIN approval ON approval.id = "
                    "approval_step.approval_id WHERE approval_step.user_id = :u AND "
                    "approval_step.status = 'waiting' ORDER BY approval_step.id DESC "
                    "LIMIT 50"), {"u": head.id}).all()
                samples.append((time.perf_counter() - t0) * 1000)
            out["plain SQL (peer)"] = {"median_ms": round(statistics.median(samples), 2)}
            print(f"  {label:>8} plain SQL (peer) median "
                  f"{out['plain SQL (peer)']['median_ms']:.2f} ms", flush=True)
            return out

        total = args.pending + args.others
        tenth = total // 10
        fill(tenth, 1)
        print(f"{share(tenth)} pending for the head, {tenth} approvals in all:", flush=True)
        results["tenth"] = measure("1/10")
        fill(total - tenth, tenth + 1)
        mine = db.session.execute(text(
            "SELECT count(*) FROM approval_step WHERE user_id = :u"), {"u": head.id}).scalar()
        print(f"{mine} pending for the head, {total} approvals in all:", flush=True)
        results["full"] = measure("full")
        results["pending_for_head"] = mine
    print(json.dumps(results, ensure_ascii=False))


if __name__ == "__main__":
    main()
