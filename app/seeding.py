"""`flask crm seed`: roles, rights, menus, reference lists, report plans and the admin
account.

Idempotent, by stable keys. What the seed wrote last time is kept in `seed_record`
(app/seed_records.py, shared by every seeder); a value an admin changed since then is left as
the admin left it."""
from __future__ import annotations

import os
import secrets

from flask import current_app
from sqlalchemy import select

from app.access import access_table
from app.deadlines import backfill
from process.trash import ensure_purge_scheduled
from app.document_seed import seed_document_templates
from app.extensions import db
from app.reference_seed import seed_reference_lists
from app.report_seed import seed_report_plans
from app.seed_records import remember_seeded, seed_record
from process.catalog import install_shipped
from process.reports import ensure_reports_scheduled
from views.base import MENU_CATEGORIES, MENU_RESOURCES


def sync_permissions(appbuilder) -> None:
    """Creates the rights and menu entries every registered view declares.

    Several screens and APIs share one resource (an entity's list, inbox and API); FAB
    would sync each view alone and drop the rights the others declare, so the union of
    their rights is synced once per resource."""
    rights: dict[str, set[str]] = {}
    for view in appbuilder.baseviews:
        if view.base_permissions:
            rights.setdefault(view.class_permission_name, set()).update(view.base_permissions)
    for name, perms in rights.items():
        appbuilder.sm.add_permissions_view(sorted(perms), name)
    appbuilder._add_menu_permissions(update_perms=True)


def _role_rights(sm, role) -> set[str]:
    table = access_table()
    resources = set(table.resources) | {view for _perm, view in table.common}
    return {f"{pv.view_menu.name}:{pv.permission.name}" for pv in role.permissions
            if pv.view_menu.name in resources}


def seed_roles(appbuilder) -> dict[str, str]:
    """Upserts the roles of the access table; returns {role: what happened}."""
    sm = appbuilder.sm
    report = {}
    admin_name = current_app.config["AUTH_ROLE_ADMIN"]
    for name, spec in access_table().roles.items():
        role = sm.find_role(name) or sm.add_role(name)
        if name == admin_name:
            for pv in db.session.scalars(select(sm.permissionview_model)).all():
                sm.add_permission_role(role, pv)
            report[name] = "все права"
            continue
        desired = {f"{res}:{right}" for res, right in spec.rights(access_table().common)}
        rec = seed_record("role_rights", name)
        last = set(rec.value) if rec else set()
        current = _role_rights(sm, role)
        to_add = desired - last if rec else desired
        to_remove = (last - desired) & current
        for item in sorted(to_add):
            res, right = item.split(":")
            pv = sm.find_permission_view_menu(right, res) or \
                sm.add_permission_view_menu(right, res)
            sm.add_permission_role(role, pv)
        for item in sorted(to_remove):
            res, right = item.split(":")
            pv = sm.find_permission_view_menu(right, res)
            if pv:
                sm.del_permission_role(role, pv)
        remember_seeded("role_rights", name, sorted(desired))
        report[name] = f"+{len(to_add - current)} −{len(to_remove)}"
    public = current_app.config.get("AUTH_ROLE_PUBLIC")
    if public and not sm.find_role(public):
        sm.add_role(public)
    db.session.commit()
    sync_menus(appbuilder)
    return report


def sync_menus(appbuilder) -> None:
    """A role sees a menu item when it can read the item's resource, and the category of
    any item it sees. Menus follow rights: an admin who removes a right removes the menu."""
    sm = appbuilder.sm
    admin_name = current_app.config["AUTH_ROLE_ADMIN"]
    for role in sm.get_all_roles():
        if role.name == admin_name:
            continue
        readable = {pv.view_menu.name for pv in role.permissions
                    if pv.permission.name == "can_read"}
        wanted = {menu for menu, res in MENU_RESOURCES.items() if res in readable}
        wanted |= {cat for cat, items in MENU_CATEGORIES.items() if items & wanted}
        all_menus = set(MENU_RESOURCES) | set(MENU_CATEGORIES)
        for menu in all_menus:
            pv = sm.find_permission_view_menu("menu_access", menu)
            if pv is None:
                continue
            has = pv in role.permissions
            if menu in wanted and not has:
                sm.add_permission_role(role, pv)
            elif menu not in wanted and has:
                sm.del_permission_role(role, pv)
    db.session.commit()


def ensure_admin() -> tuple[str, str | None]:
    """Creates the admin account once. Returns (username, generated password or None)."""
    sm = current_app.appbuilder.sm
    username = os.environ.get("ADMIN_USERNAME", "admin")
    if sm.find_user(username=username):
        return username, None
    password = os.environ.get("ADMIN_PASSWORD")
    generated = None
    if not password:
        password = generated = secrets.token_urlsafe(12)
    role = sm.find_role(current_app.config["AUTH_ROLE_ADMIN"])
    user = sm.add_user(username, "Администратор", "Системы",
                       os.environ.get("ADMIN_EMAIL", f"{username}@example.com"), role,
                       password=password)
    if not user:
        raise RuntimeError("не удалось создать администратора")
    return username, generated


def seed_all() -> list[str]:
    """Everything `flask crm seed` does; returns lines to print."""
    appbuilder = current_app.appbuilder
    admin_role = current_app.config["AUTH_ROLE_ADMIN"]
    appbuilder.sm.find_role(admin_role) or appbuilder.sm.add_role(admin_role)
    sync_permissions(appbuilder)
    lines = []
    report = seed_roles(appbuilder)
    lines.append(f"Роли: {len(report)}")
    lines.extend(seed_reference_lists())
    lines.extend(seed_document_templates())
    # After the reference lists: definitions name them. A bad file is reported, not fatal.
    lines.extend(install_shipped())
    added = backfill()
    if added:
        lines.append(f"Сроки и напоминания поставлены в расписание: {added}")
    if ensure_purge_scheduled():
        db.session.commit()
        lines.append("Ежедневная очистка корзины поставлена в расписание")
    lines.extend(seed_report_plans())
    if ensure_reports_scheduled():
        db.session.commit()
        lines.append("Ежедневные задачи-отчёты сотрудников поставлены в расписание")
    username, generated = ensure_admin()
    if generated:
        lines.append(f"Создан администратор {username}, пароль: {generated} "
                     "(показан один раз, смените его после входа)")
    return lines
