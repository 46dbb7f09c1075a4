"""Migrations build the whole schema on an empty database, and match the models."""
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import upgrade
from sqlalchemy import inspect

from app import create_app
from app.extensions import db
from config import BASE_DIR


def test_upgrade_on_empty_database_matches_the_models(fresh_database_url):
    app = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": fresh_database_url})
    with app.app_context():
        upgrade(directory=str(BASE_DIR / "migrations"))
        tables = set(inspect(db.engine).get_table_names())
        assert {"ab_user", "company", "deal", "task", "audit_log"} <= tables
        with db.engine.connect() as conn:
            ctx = MigrationContext.configure(conn, opts={"compare_type": True})
            diff = compare_metadata(ctx, db.metadata)
        assert diff == [], f"models and migrations differ: {diff}"
        db.session.remove()
        db.engine.dispose()
