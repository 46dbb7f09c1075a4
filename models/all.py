"""Imports every model module, so that Flask-AppBuilder, Alembic and the tests see them all."""
from models import (  # noqa: F401
    attachment, audit, deal, event, lead, order, party, pipeline, product, reference, seed,
    task, timeline, user,
)
