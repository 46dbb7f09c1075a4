"""What a template reads of the record, found in its syntax tree without rendering it."""
from __future__ import annotations

from jinja2 import Environment, TemplateSyntaxError, nodes


def record_fields_in(source: str) -> frozenset[str]:
    """The record fields a template prints (`record.x`, `record["x"]`): a definition that
    names the template is checked against its entity's fields at load time."""
    try:
        tree = Environment().parse(source)
    except TemplateSyntaxError:
        return frozenset()
    used = set()
    for node in tree.find_all((nodes.Getattr, nodes.Getitem)):
        if isinstance(node.node, nodes.Name) and node.node.name == "record":
            if isinstance(node, nodes.Getattr):
                used.add(node.attr)
            elif isinstance(node.arg, nodes.Const) and isinstance(node.arg.value, str):
                used.add(node.arg.value)
    return frozenset(used)
