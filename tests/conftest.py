"""Test fixtures: one app and one database per run, emptied of business rows after each test.

TEST_DATABASE_URL chooses the database (default: a SQLite file in a temporary folder);
`make test` runs the suite on SQLite and, where PostgreSQL answers, on PostgreSQL too."""
from __future__ import annotations

import os
import re
import uuid

import pytest
from sqlalchemy import create_engine, text

from app import create_app
from app.extensions import db

PASSWORD = "test-Pa55word"
# Rows made once per run and kept between tests.
KEPT_TABLES = {"alembic_version", "seed_record", "reference_list", "reference_item",
               "department"}


def _database_url(tmp_path_factory) -> str:
    url = os.environ.get("TEST_DATABASE_URL")
    if url:
        return url
    return f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.sqlite3'}"


@pytest.fixture(scope="session")
def _app(tmp_path_factory):
    url = _database_url(tmp_path_factory)
    app = create_app({
        "TESTING": True,
        "SQLALCHEMY_DATABASE_URI": url,
        "SECRET_KEY": "test-secret-key-of-at-least-32-bytes!",
        "WTF_CSRF_ENABLED": False,
        "UPLOAD_DIR": str(tmp_path_factory.mktemp("uploads")),
        "UPLOAD_MAX_BYTES": 200_000,
        "SERVER_NAME": "localhost",
        # One round of hashing: logins in tests need not resist brute force.
        "FAB_PASSWORD_HASH_METHOD": "pbkdf2:sha256:1",
        # Sign-in limits count in memory, never in a Redis another run shares.
        "RATELIMIT_STORAGE_URI": "memory://",
    })
    with app.app_context():
        if url.startswith("postgresql"):
            db.session.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
            db.session.commit()
        else:
            db.drop_all()
        db.create_all()
        from app.seeding import seed_all
        from tests.factories import make_role_users

        seed_all()
        make_role_users()
        app.config["_BASE_USER_ID"] = db.session.execute(
            text("SELECT max(id) FROM ab_user")).scalar()
        # Every test starts from the same state: roles, users and lists, no business rows
        # (the seed's installed processes included; tests install what they need).
        _empty_business_tables(app)
    return app


def _empty_business_tables(app) -> None:
    base_user = app.config["_BASE_USER_ID"]
    tables = [t for t in reversed(db.metadata.sorted_tables)
              if t.name not in KEPT_TABLES and not t.name.startswith("ab_")]
    if db.engine.dialect.name == "postgresql":
        names = ", ".join(f'"{t.name}"' for t in tables)
        db.session.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
    else:
        for table in tables:
            db.session.execute(table.delete())
    db.session.execute(text("DELETE FROM ab_user_role WHERE user_id > :b"), {"b": base_user})
    db.session.execute(text("UPDATE department SET head_id = NULL WHERE head_id > :b"),
                       {"b": base_user})
    db.session.execute(text("DELETE FROM ab_user WHERE id > :b"), {"b": base_user})
    db.session.commit()


@pytest.fixture()
def app(_app):
    with _app.app_context():
        yield _app
        db.session.rollback()
        _empty_business_tables(_app)
        db.session.remove()


@pytest.fixture(autouse=True)
def _push_request_context():
    """pytest-flask keeps one request context for the whole test; each request here gets
    its own, so a failed request cannot leave a dirty session for the next one."""
    yield


@pytest.fixture()
def document_templates(app):
    """The shipped document templates and the row of our requisites: business tables start
    empty, and the seed's memory of the templates must go with them."""
    from app.document_seed import SEED_KIND, seed_document_templates
    from models.seed import SeedRecord

    db.session.execute(SeedRecord.__table__.delete().where(SeedRecord.kind == SEED_KIND))
    seed_document_templates()


@pytest.fixture()
def one_c(app):
    """The 1C processes of events and customer orders, installed."""
    from config import BASE_DIR
    from process import catalog

    for name in ("000_events.yaml", "000_orders.yaml"):
        catalog.install_file(BASE_DIR / "rules" / "definitions" / name)
    db.session.commit()


@pytest.fixture()
def runner(app):
    return app.test_cli_runner()


def _forget_user() -> None:
    """The test's app context outlives each request, and Flask-Login, FAB and JWT keep the
    current user in `g`: without this a second client in the same test acts as the first."""
    from flask import g

    for key in ("_login_user", "user", "_jwt_extended_jwt", "_jwt_extended_jwt_header",
                "_jwt_extended_jwt_user"):
        g.pop(key, None)


class Client:
    """A test client that logs in as a user and speaks both the screens and the API."""

    def __init__(self, app, username: str | None):
        self.http = app.test_client()
        self.username = username
        self._token = None
        _forget_user()
        if username:
            resp = self.http.post("/login/", data={"username": username, "password": PASSWORD})
            assert resp.status_code == 302, f"login as {username} failed"

    def get(self, url, **kw):
        _forget_user()
        return self.http.get(url, **kw)

    def post(self, url, **kw):
        _forget_user()
        return self.http.post(url, **kw)

    def api(self, method: str, url: str, json=None):
        _forget_user()
        if self._token is None:
            resp = self.http.post("/api/v1/security/login", json={
                "username": self.username, "password": PASSWORD, "provider": "db"})
            assert resp.status_code == 200, resp.get_data(as_text=True)
            self._token = resp.json["access_token"]
        headers = {"Authorization": f"Bearer {self._token}"}
        _forget_user()
        return self.http.open(url, method=method.upper(), json=json, headers=headers)


@pytest.fixture()
def login(app):
    def _login(username: str | None) -> Client:
        return Client(app, username)

    return _login


@pytest.fixture()
def client(login):
    """Logged in as the admin."""
    return login("admin")


def flashes(html: str) -> list[str]:
    return re.findall(r'class="alert[^"]*"[^>]*>(?:\s*<button[^>]*>.*?</button>)?\s*(.*?)\s*</div>',
                      html, re.S)


def _new_database(tmp_dir):
    """An empty database of the same kind as the suite's (a new PostgreSQL schema, or a new
    SQLite file). Returns (url, drop) for tests that need their own: migrations, demo data."""
    url = os.environ.get("TEST_DATABASE_URL", "")
    if not url.startswith("postgresql"):
        return f"sqlite:///{tmp_dir / 'fresh.sqlite3'}", lambda: None
    schema = f"t_{uuid.uuid4().hex[:10]}"
    admin = create_engine(url)
    with admin.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))

    def drop():
        with admin.begin() as conn:
            conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()

    sep = "&" if "?" in url else "?"
    return f"{url}{sep}options=-csearch_path%3D{schema}", drop


@pytest.fixture()
def fresh_database_url(tmp_path):
    url, drop = _new_database(tmp_path)
    yield url
    drop()


def _seeded_app(url, **config):
    from app.seeding import seed_all

    other = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": url,
                        "SECRET_KEY": "test-secret-key-of-at-least-32-bytes!",
                        "WTF_CSRF_ENABLED": False, "RATELIMIT_STORAGE_URI": "memory://",
                        "FAB_PASSWORD_HASH_METHOD": "pbkdf2:sha256:1", **config})
    with other.app_context():
        db.create_all()
        seed_all()
    return other


@pytest.fixture(scope="session")
def _demo_app(tmp_path_factory):
    """One app with `flask crm demo` data, shared by the tests that only read it."""
    url, drop = _new_database(tmp_path_factory.mktemp("demo"))
    # The demo attaches the documents its stages ask for: kept out of the project's folder.
    demo = _seeded_app(url, UPLOAD_DIR=str(tmp_path_factory.mktemp("demo_uploads")))
    os.environ["DEMO_PASSWORD"] = PASSWORD
    try:
        with demo.app_context():
            result = demo.test_cli_runner().invoke(args=["crm", "demo", "--deals", "9"])
            assert result.exit_code == 0, result.output
            demo.config["_DEMO_OUTPUT"] = result.output
            sm = demo.appbuilder.sm
            sm.reset_password(sm.find_user(username="admin").id, PASSWORD)
            db.session.remove()
            db.engine.dispose()
    finally:
        os.environ.pop("DEMO_PASSWORD", None)
    yield demo
    drop()


@pytest.fixture()
def demo_app(_demo_app):
    with _demo_app.app_context():
        yield _demo_app
        db.session.rollback()
        db.session.remove()


@pytest.fixture()
def fresh_app(fresh_database_url):
    """A second app on an empty, seeded database of its own."""
    other = _seeded_app(fresh_database_url)
    with other.app_context():
        yield other
        db.session.remove()
        db.engine.dispose()
