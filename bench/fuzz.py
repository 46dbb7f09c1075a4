"""A long schemathesis run against the API, in process, as the admin with a bearer token.

    .venv/bin/python bench/fuzz.py [--examples 100] [--seed 1] [--only "POST /api/v1/deal"]

Uses DATABASE_URL (default: a fresh SQLite file in a temporary folder); the database is
built from the models and seeded, so do not point it at a database you care about. Prints
the operations, requests, 5xx and the status codes, then each finding (a 5xx or a status the
OpenAPI document does not list), and, last, one JSON line. Exits 1 when anything was found."""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

PASSWORD = "fuzz-Pa55word"


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--examples", type=int, default=100,
                        help="generated requests per operation and mode (valid, invalid)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--only", default=None, help="operations whose label contains this")
    args = parser.parse_args()
    folder = tempfile.mkdtemp(prefix="crm-fuzz-")
    url = os.environ.get("DATABASE_URL") or f"sqlite:///{folder}/fuzz.sqlite3"

    from sqlalchemy import create_engine, text

    from tests.fuzzing import fuzz_app, run, token_of

    if url.startswith("postgresql"):
        engine = create_engine(url)
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
        engine.dispose()
    warnings.simplefilter("ignore")  # apispec's notes on schema names, once per operation
    app = fuzz_app(url, folder, PASSWORD)
    report = run(app, token_of(app, PASSWORD), examples=args.examples, seed=args.seed,
                 only=args.only, per_finding=5)
    print(report.summary())
    for finding in report.findings:
        print(f"{finding.operation} -> {finding.status} ({finding.check}): {finding.body}")
        print(f"    {finding.request[:600]}")
    print(json.dumps({"operations": report.operations, "requests": report.requests,
                      "server_errors": report.server_errors,
                      "findings": len(report.findings),
                      "statuses": {str(k): v for k, v in sorted(report.statuses.items())},
                      "seconds": round(report.seconds, 1)}))
    return 1 if report.findings else 0


if __name__ == "__main__":
    sys.exit(main())
