"""Imports every model module, so that Flask-AppBuilder, Alembic and the tests see them all."""
from models import (  # noqa: F401
    absence, acknowledgement, approval, attachment, audit, brief, client_link, deal, document,
    event, lead, notification, office_request, order, outbox, party, payment, pipeline,
    process, product, reference, report, schedule, seed, task, timeline, trash, user,
)
