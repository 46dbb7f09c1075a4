"""Loading a list page in a fixed number of statements, whatever its size: the related
records its columns show come in one query per relation (not one per row), and a screen
may prepare what else its rows read (`prepare_page`)."""
from __future__ import annotations

from flask import has_request_context, request
from flask_appbuilder.models.sqla.interface import SQLAInterface
from sqlalchemy.orm import selectinload

PAGE_RECORDS = "crm.page_records"  # request.environ key


def keep_for_request(records) -> list:
    """Keeps records loaded for a page alive until the response is made: the session holds
    them weakly, and a record nothing refers to would be asked for again row by row."""
    records = list(records)
    if has_request_context():
        request.environ.setdefault(PAGE_RECORDS, []).extend(records)
    return records


class ListInterface(SQLAInterface):
    """The datamodel of a list screen. `load` names the relations its rows show, dotted
    for a relation of a relation ("pipeline.fields"); they are loaded with the page."""

    def __init__(self, obj, session=None, load: tuple[str, ...] = ()):
        super().__init__(obj, session)
        self.load = tuple(load)

    def apply_all(self, query, *args, **kwargs):
        query = super().apply_all(query, *args, **kwargs)
        options = [self._loader(path) for path in self.load]
        return query.options(*options) if options else query

    def _loader(self, path: str):
        model, option = self.obj, None
        for name in path.split("."):
            attr = getattr(model, name)
            option = selectinload(attr) if option is None else option.selectinload(attr)
            model = attr.property.mapper.class_
        return option

    def query(self, *args, **kwargs):
        count, items = super().query(*args, **kwargs)
        page = [item for item in items if isinstance(item, self.obj)]
        if page:
            self.prepare_page(page)
        return count, items

    def prepare_page(self, items: list) -> None:
        """What the rows read beyond their relations, for all of them at once."""


__all__ = ["ListInterface", "keep_for_request"]
