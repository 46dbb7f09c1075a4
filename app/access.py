"""The access table (app/access.yaml) and what follows from it: Flask-AppBuilder roles and
rights, menus, and the row scope of a user."""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import yaml

from errors import SeedError

ACCESS_FILE = Path(__file__).with_name("access.yaml")
RIGHTS = {"r": "can_read", "w": "can_write", "d": "can_delete"}
SCOPES = ("own", "department", "all")
# Method -> right, shared by every generated screen and API of an entity.
VIEW_METHOD_RIGHTS = {
    "list": "read", "show": "read", "download": "read", "export": "read",
    "add": "write", "edit": "write", "action": "write", "action_post": "write",
    "delete": "delete",
    # Relation pickers (views/pickers.py): a list's filters search with the read right,
    # a form's fields with the write right and the form's own filters.
    "picker": "read", "form_picker": "write",
}
API_METHOD_RIGHTS = {
    "get_list": "read", "get": "read", "info": "read",
    "post": "write", "put": "write", "delete": "delete",
    # The bulk move finds what the user sees and asks `may_change_stage` of each record:
    # a stage's participants move records they may only read.
    "move": "read",
}


@dataclass(frozen=True)
class RoleSpec:
    name: str
    label: str
    scope: str
    access: dict[str, str] = field(default_factory=dict)
    # A scope of one resource other than the role's (`scopes:` in access.yaml).
    scopes: dict[str, str] = field(default_factory=dict)

    def rights(self, common=()) -> set[tuple[str, str]]:
        """{(resource, 'can_read'), ...}"""
        out = {(view, perm) for perm, view in common}
        for resource, letters in self.access.items():
            for letter in letters:
                out.add((resource, RIGHTS[letter]))
        return out


@dataclass(frozen=True)
class AccessTable:
    resources: dict[str, str]
    roles: dict[str, RoleSpec]
    common: tuple[tuple[str, str], ...] = ()
    # Roles that see every absence in full (a sick leave's kind too) and every leave balance.
    personnel: tuple[str, ...] = ()


def parse_access(data: dict, source: str = "access.yaml") -> AccessTable:
    if not isinstance(data, dict) or "resources" not in data or "roles" not in data:
        raise SeedError(f"{source}: нужны разделы resources и roles")
    resources = dict(data["resources"])
    roles = {}
    for name, spec in data["roles"].items():
        scope = spec.get("scope", "own")
        if scope not in SCOPES:
            raise SeedError(f"{source}: roles.{name}.scope: неизвестная область «{scope}»")
        access = dict(spec.get("access") or {})
        for resource, letters in access.items():
            if resource not in resources:
                raise SeedError(f"{source}: roles.{name}.access: неизвестный ресурс «{resource}»")
            if not letters or set(letters) - set(RIGHTS) or "r" not in letters:
                raise SeedError(f"{source}: roles.{name}.access.{resource}: права «{letters}» "
                                "должны включать r и состоять из r, w, d")
        scopes = dict(spec.get("scopes") or {})
        for resource, own_scope in scopes.items():
            if resource not in resources:
                raise SeedError(f"{source}: roles.{name}.scopes: неизвестный ресурс «{resource}»")
            if own_scope not in SCOPES:
                raise SeedError(f"{source}: roles.{name}.scopes.{resource}: неизвестная "
                                f"область «{own_scope}»")
        roles[name] = RoleSpec(name=name, label=spec.get("label", name), scope=scope,
                               access=access, scopes=scopes)
    common = tuple((str(p), str(v)) for p, v in data.get("common") or ())
    personnel = data.get("personnel") or []
    if not isinstance(personnel, list):
        raise SeedError(f"{source}: personnel: ожидается список ролей")
    for name in personnel:
        if name not in roles:
            raise SeedError(f"{source}: personnel: неизвестная роль «{name}»")
    return AccessTable(resources=resources, roles=roles, common=common,
                       personnel=tuple(personnel))


@lru_cache(maxsize=1)
def access_table() -> AccessTable:
    return parse_access(yaml.safe_load(ACCESS_FILE.read_text(encoding="utf-8")),
                        str(ACCESS_FILE.name))


def user_scope(role_names, resource: str | None = None) -> str:
    """The widest row scope among the user's roles (on `resource`, where a role names a
    scope of its own for it)."""
    table = access_table()
    best = 0
    for name in role_names:
        spec = table.roles.get(name)
        if spec is not None:
            scope = spec.scopes.get(resource, spec.scope) if resource else spec.scope
            best = max(best, SCOPES.index(scope))
    return SCOPES[best]


def personnel_roles() -> frozenset[str]:
    """The roles of `personnel` in the access table (absences and leave balances)."""
    return frozenset(access_table().personnel)


def role_labels() -> dict[str, str]:
    return {name: spec.label for name, spec in access_table().roles.items()}
