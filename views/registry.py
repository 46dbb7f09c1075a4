"""The order of the menu: one `register_views(appbuilder)` per aggregate module."""
from views import party

MODULES = [party]


def register_all(appbuilder) -> None:
    for module in MODULES:
        module.register_views(appbuilder)
