"""Benchmark: invoices for many deals selected in a list, rendered by documents workers.

    .venv/bin/python bench/document_batch.py [--count 200] [--workers 1 2]
    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/bench_docs \\
        BENCH_REDIS_URL=redis://127.0.0.1:6379/13 .venv/bin/python bench/document_batch.py

Builds its own database (DATABASE_URL, default a fresh SQLite file; do not point it at a
database you care about) and BENCH_REDIS_URL (default redis://127.0.0.1:6379/13, flushed).
Makes `--count` deals with two line items each, asks for their invoices as one batch
(`process.documents.request_batch`, what «Сформировать документы» on the deal list does),
hands the jobs to RQ with the scheduler's own pass, and starts N `flask crm worker --burst
--queue crm-documents` processes (waiting for them to register). Prints, per N, the wall
time from the hand-over to the last invoice stored, invoices per second, how many are ready,
and how long starting the workers took (apart). `batch_figures()` is what bench/documents.py
calls for its batch line."""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DEFAULT_REDIS = "redis://127.0.0.1:6379/13"


def _app(url: str, redis_url: str, upload_dir: str):
    from app import create_app

    return create_app({"SQLALCHEMY_DATABASE_URI": url, "REDIS_URL": redis_url,
                       "UPLOAD_DIR": upload_dir, "TESTING": True,
                       "FAB_PASSWORD_HASH_METHOD": "pbkdf2:sha256:1"})


def _build(app, url: str, count: int) -> list[int]:
    from sqlalchemy import text

    from app.extensions import db
    from app.seeding import seed_all
    from models.deal import Deal, DealItem
    from models.pipeline import Pipeline, Stage
    from tests.document_helpers import fill_company_profile
    from tests.factories import make_role_users
    from tests.helpers import legal_company, user

    with app.app_context():
        if url.startswith("postgresql"):
            db.session.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
            db.session.commit()
        db.create_all()
        seed_all()
        make_role_users()
        fill_company_profile()
        company = legal_company(kpp="770701001", legal_address="г. Москва, ул. Ленина, д. 1")
        pipeline = Pipeline(code="bench", name="Воронка", entity="deal")
        pipeline.stages.append(Stage(key="new", name="Новая", kind="open", sort_order=10))
        db.session.add(pipeline)
        manager = user("manager")
        deals = []
        for i in range(count):
            deal = Deal(title=f"Поставка № {i + 1}", pipeline=pipeline,
                        stage=pipeline.stages[0], responsible=manager, company=company)
            deal.items.extend([
                DealItem(name="Пакет крафт 30×40", quantity=Decimal(1000 + i),
                         price=Decimal("12.50"), unit="шт"),
                DealItem(name="Коробка гофро", quantity=Decimal(150), price=Decimal("900.00"),
                         unit="шт")])
            deals.append(deal)
        db.session.add_all(deals)
        db.session.commit()
        return [d.id for d in deals]


def _request(app, deal_ids: list[int]) -> int:
    from sqlalchemy import select

    from app.extensions import db
    from models.deal import Deal
    from process import documents

    with app.app_context():
        deals = list(db.session.scalars(select(Deal).where(Deal.id.in_(deal_ids))))
        batch = documents.request_batch(deals, "deal", "invoice")
        db.session.commit()
        return batch.id


def _hand_over(app) -> None:
    from jobs import scheduler

    with app.app_context():
        scheduler.tick()


def _progress(app, batch_id: int):
    from app.extensions import db
    from models.document import DocumentBatch
    from process import documents

    with app.app_context():
        progress = documents.batch_progress(db.session.get(DocumentBatch, batch_id))
        db.session.remove()
        return progress


def _workers(n: int, env: dict, connection) -> tuple[list[subprocess.Popen], float]:
    """N documents workers, started and registered with Redis (waiting for jobs); returns
    them and how long starting them took (the app's import and set-up, once per process)."""
    from rq import Worker

    started = time.perf_counter()
    procs = [subprocess.Popen([str(ROOT / ".venv/bin/flask"), "crm", "worker",
                               "--queue", "crm-documents", "--name", f"bench-docs-{i}"],
                              cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL) for i in range(n)]
    while len(Worker.all(connection=connection)) < n:
        if any(p.poll() is not None for p in procs):
            raise SystemExit("a worker exited while starting")
        time.sleep(0.05)
    return procs, time.perf_counter() - started


def _stop(procs) -> None:
    for proc in procs:
        proc.terminate()
    for proc in procs:
        proc.wait(timeout=60)


def batch_figures(count: int = 200, workers=(1, 2)) -> list[dict]:
    from redis import Redis

    url = os.environ.get("DATABASE_URL") or \
        f"sqlite:///{tempfile.mkdtemp(prefix='crm-bench-docs-')}/bench.sqlite3"
    redis_url = os.environ.get("BENCH_REDIS_URL") or DEFAULT_REDIS
    upload_dir = tempfile.mkdtemp(prefix="crm-bench-files-")
    app = _app(url, redis_url, upload_dir)
    connection = Redis.from_url(redis_url)
    connection.flushdb()
    env = {**os.environ, "DATABASE_URL": url, "REDIS_URL": redis_url,
           "UPLOAD_DIR": upload_dir, "FLASK_APP": "run"}
    deal_ids = _build(app, url, count)
    out = []
    for n in workers:
        batch_id = _request(app, deal_ids)
        procs, startup = _workers(n, env, connection)
        try:
            started = time.perf_counter()
            _hand_over(app)
            while not (progress := _progress(app, batch_id)).finished:
                if time.perf_counter() - started > 1800:
                    raise SystemExit("the batch did not finish in 30 minutes")
                time.sleep(0.05)
            elapsed = time.perf_counter() - started
        finally:
            _stop(procs)
        out.append({"workers": n, "count": count, "seconds": round(elapsed, 2),
                    "per_second": round(count / elapsed, 1), "ready": progress.ready,
                    "failed": progress.failed, "startup_s": round(startup, 2),
                    "database": url.split(":")[0]})
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=200)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    args = parser.parse_args()
    for row in batch_figures(args.count, tuple(args.workers)):
        print(f"{row['count']} invoices, {row['workers']} worker(s) [{row['database']}]: "
              f"{row['seconds']} s ({row['per_second']}/s), ready {row['ready']}, "
              f"failed {row['failed']} (starting the workers before: {row['startup_s']} s)")


if __name__ == "__main__":
    main()
