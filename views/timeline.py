"""timeline screens (to be written)."""


def register_views(appbuilder):
    pass
