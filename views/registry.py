"""The order of the menu: one `register_views(appbuilder)` per aggregate module."""
from views import (
    absence, acknowledgement, approval, audit, brief, client_link, deal, document_admin,
    documents, event, lead, move, notification, office_request, order, outbox, party, payment,
    pipeline, process, product, reference, report, schedule, task, timeline, trash, user,
)

MODULES = [lead, deal, party, event, task, report, acknowledgement, approval, order,
           documents, office_request, absence, product, pipeline, process, document_admin,
           reference, user, timeline, audit, trash, schedule, outbox, move, notification,
           brief, client_link, payment]


def register_all(appbuilder) -> None:
    for module in MODULES:
        module.register_views(appbuilder)
