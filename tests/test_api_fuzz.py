"""A bounded schemathesis run against the app's own `/api/v1/_openapi`, in process, as the
admin with a bearer token: every operation gets a few generated requests valid by the
document and a few invalid ones, with a fixed seed. No answer may be a 5xx, and every
status must be one the document lists (checks `not_a_server_error` and
`status_code_conformance`). `bench/fuzz.py` runs the same for longer."""
from __future__ import annotations

import pytest

from tests.conftest import PASSWORD
from tests.fuzzing import fuzz_app, run, token_of

EXAMPLES = 4  # per operation and mode (valid, invalid): about 1 200 requests
SEED = 20261130


@pytest.fixture()
def fuzz_target(fresh_database_url, tmp_path):
    """An app of its own: the fuzzer deletes and changes whatever its ids hit."""
    app = fuzz_app(fresh_database_url, str(tmp_path), PASSWORD)
    yield app
    with app.app_context():
        from app.extensions import db

        db.session.remove()
        db.engine.dispose()


def test_generated_requests_get_no_server_error_and_documented_statuses(fuzz_target):
    report = run(fuzz_target, token_of(fuzz_target, PASSWORD), examples=EXAMPLES, seed=SEED)
    details = "\n".join(f"{f.operation} -> {f.status} ({f.check}): {f.body}\n    {f.request}"
                        for f in report.findings)
    assert report.operations >= 140, report.summary()
    assert report.requests >= report.operations * EXAMPLES, report.summary()
    assert report.server_errors == 0, f"{report.summary()}\n{details}"
    assert not report.findings, f"{report.summary()}\n{details}"
