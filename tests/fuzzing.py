"""Schemathesis against the app's own OpenAPI document, in process (no server): every
operation, a fixed number of generated requests each (valid and invalid by the schema), a
fixed seed. Shared by tests/test_api_fuzz.py (a bounded run in the suite) and bench/fuzz.py
(a long run). No tests here.

Checks enabled: schemathesis' `not_a_server_error` (no status >= 500) and
`status_code_conformance` (every status is one the document lists for the operation)."""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import schemathesis
from hypothesis import HealthCheck, Phase, given, settings, strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import status_code_conformance

OPENAPI = "/api/v1/_openapi"
CHECKS = [not_a_server_error, status_code_conformance]


@dataclass
class Finding:
    operation: str
    status: int
    check: str
    body: str
    request: str


@dataclass
class FuzzReport:
    operations: int = 0
    requests: int = 0
    server_errors: int = 0
    findings: list[Finding] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    seconds: float = 0.0

    def summary(self) -> str:
        codes = ", ".join(f"{code}: {n}" for code, n in sorted(self.statuses.items()))
        return (f"operations: {self.operations}, requests: {self.requests}, "
                f"5xx: {self.server_errors}, findings: {len(self.findings)}, "
                f"statuses: {codes}, {self.seconds:.0f} s")


def _describe(case) -> str:
    try:
        return case.as_curl_command()
    except Exception:  # noqa: BLE001 - a description only; some cases cannot be printed
        return f"{case.method} {case.formatted_path} query={case.query!r} body={case.body!r}"


def run(app, token: str, examples: int, seed: int = 0, only: str | None = None,
        per_finding: int = 3) -> FuzzReport:
    """Sends `examples` valid and `examples` invalid requests to each operation whose label
    contains `only` (all when None); collects the answers that fail the checks, at most
    `per_finding` per operation and check."""
    auth = {"Authorization": f"Bearer {token}"}
    schema = schemathesis.openapi.from_wsgi(OPENAPI, app, headers=auth)
    report = FuzzReport()
    started = time.monotonic()
    for result in schema.get_all_operations():
        operation = result.ok()
        if only and only not in operation.label:
            continue
        report.operations += 1
        _fuzz_operation(operation, auth, examples, seed, report, per_finding)
    report.seconds = time.monotonic() - started
    return report


def _fuzz_operation(operation, auth, examples, seed, report, per_finding) -> None:
    strategy = st.one_of(operation.as_strategy(GenerationMode.POSITIVE),
                         operation.as_strategy(GenerationMode.NEGATIVE))
    seen: dict[str, int] = {}

    @settings(max_examples=2 * examples, derandomize=True, database=None, deadline=None,
              phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck),
              print_blob=False)
    @given(case=strategy)
    def send(case):
        response = case.call(headers=auth)
        report.requests += 1
        report.statuses[response.status_code] = report.statuses.get(response.status_code,
                                                                    0) + 1
        if response.status_code >= 500:
            report.server_errors += 1
        try:
            case.validate_response(response, checks=CHECKS, headers=auth)
        except FailureGroup as failures:
            for failure in failures.exceptions:
                name = type(failure).__name__
                if seen.get(name, 0) >= per_finding:
                    continue
                seen[name] = seen.get(name, 0) + 1
                body = (response.content or b"").decode("utf-8", "replace")[:300]
                report.findings.append(Finding(operation.label, response.status_code, name,
                                               body, _describe(case)))

    # A fixed seed on top of derandomize: the same requests on every run.
    send._hypothesis_internal_use_seed = seed
    send()


def token_of(app, password: str) -> str:
    resp = app.test_client().post("/api/v1/security/login", json={
        "username": "admin", "password": password, "provider": "db"})
    assert resp.status_code == 200, resp.get_data(as_text=True)
    return resp.json["access_token"]


def fuzz_app(url: str, upload_dir: str, password: str):
    """An app on `url` (an empty database), seeded, with the shipped processes and a few
    records for the ids the fuzzer guesses to find; the admin's password is `password`."""
    from app import create_app
    from app.extensions import db
    from app.seeding import seed_all
    from process import catalog

    app = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": url,
                      "SECRET_KEY": "fuzz-secret-key-of-at-least-32-bytes!!",
                      "WTF_CSRF_ENABLED": False, "UPLOAD_DIR": upload_dir,
                      "UPLOAD_MAX_BYTES": 200_000,
                      "FAB_PASSWORD_HASH_METHOD": "pbkdf2:sha256:1"})
    # Exceptions become the 500 answers a client would get, which the checks count.
    app.config["PROPAGATE_EXCEPTIONS"] = False
    with app.app_context():
        db.create_all()
        seed_all()
        catalog.install_shipped()
        sm = app.appbuilder.sm
        sm.reset_password(sm.find_user(username="admin").id, password)
        _sample_records(sm.find_user(username="admin").id)
        db.session.remove()
    return app


def _sample_records(admin_id: int) -> None:
    from sqlalchemy import select

    from app.extensions import db
    from models.base import acting_as
    from models.deal import Deal
    from models.lead import Lead
    from models.party import Company, Contact
    from models.pipeline import Pipeline
    from models.task import Task

    with acting_as(admin_id):
        company = Company(kind="legal", name="ООО «Проба»", inn="7707083893")
        contact = Contact(last_name="Пробов", first_name="Пётр", company=company)
        records = [company, contact]
        for entity, model in (("deal", Deal), ("lead", Lead)):
            pipeline = db.session.scalar(select(Pipeline).where(Pipeline.entity == entity)
                                         .order_by(Pipeline.id))
            record = model(title="Проба", pipeline=pipeline, stage=pipeline.stages[0],
                           responsible_id=admin_id)
            records.append(record)
        db.session.add_all(records)
        db.session.flush()
        db.session.add(Task(title="Позвонить", assignee_id=admin_id, creator_id=admin_id,
                            record_entity="deal", record_id=records[2].id))
        db.session.commit()
