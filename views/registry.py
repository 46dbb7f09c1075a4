"""The order of the menu: one `register_views(appbuilder)` per aggregate module."""
from views import (
    audit, deal, event, lead, move, order, party, pipeline, process, product, reference, task,
    timeline, user,
)

MODULES = [lead, deal, party, event, task, order, product, pipeline, process, reference, user,
           timeline, audit, move]


def register_all(appbuilder) -> None:
    for module in MODULES:
        module.register_views(appbuilder)
