"""Imports every model module, so that Flask-AppBuilder, Alembic and the tests see them all."""
from models import audit, party, reference, seed, user  # noqa: F401
