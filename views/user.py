"""Screens and REST API of departments, with the users of each department on its page."""
from __future__ import annotations

from flask_appbuilder.models.sqla.interface import SQLAInterface
from sqlalchemy import func, select

from app.extensions import db
from errors import CrmError, FieldErrors
from models.user import CrmUser, Department
from views.base import CrmModelRestApi, CrmModelView, register

DEPARTMENT_LABELS = {
    "code": "Код", "name": "Наименование", "head": "Руководитель", "active": "Активен",
    "users": "Сотрудники",
}
EMPLOYEE_LABELS = {
    "last_name": "Фамилия", "first_name": "Имя", "username": "Логин", "position": "Должность",
    "phone": "Телефон", "email": "E-mail", "active": "Активен", "department": "Отдел",
    "roles": "Роли",
}
IN_USE_MESSAGE = ("В отделе есть сотрудники ({count}): переведите их в другой отдел, "
                  "затем удалите отдел. Или снимите отметку «Активен».")


def _uniqueness_errors(item) -> dict[str, str]:
    """The code and the name are unique. Forms check this with FAB's own validator; the API
    would otherwise answer with the database's English integrity error."""
    errors = {}
    for field, message in (("code", "Отдел с таким кодом уже есть"),
                           ("name", "Отдел с таким наименованием уже есть")):
        value = getattr(item, field, None)
        if not value:
            continue
        stmt = select(Department.id).where(getattr(Department, field) == value)
        if item.id is not None:
            stmt = stmt.where(Department.id != item.id)
        with db.session.no_autoflush:
            if db.session.scalar(stmt) is not None:
                errors[field] = message
    return errors


def _refuse_delete_in_use(item) -> None:
    """Users point at their department; SQLite does not enforce the foreign key, so a delete
    would leave them pointing at nothing. Refuse in words instead of a database error."""
    count = db.session.scalar(
        select(func.count(CrmUser.id)).where(CrmUser.department_id == item.id))
    if count:
        raise CrmError(IN_USE_MESSAGE.format(count=count))


class DepartmentEmployeeView(CrmModelView):
    """The users of one department, shown on the department's page (read only: users are
    edited on the users screen, which owns passwords and roles)."""

    datamodel = SQLAInterface(CrmUser)
    resource = "department"
    titles = ("Сотрудники отдела", "Сотрудник", "Новый сотрудник", "Изменение сотрудника")
    base_permissions = ["can_read"]
    label_columns = EMPLOYEE_LABELS
    list_columns = ["last_name", "first_name", "position", "phone", "email", "active"]
    show_columns = ["last_name", "first_name", "username", "position", "department", "phone",
                    "email", "active"]
    search_columns = ["last_name", "first_name", "position", "active"]
    order_columns = ["last_name", "first_name", "position"]
    base_order = ("last_name", "asc")


class DepartmentView(CrmModelView):
    datamodel = SQLAInterface(Department)
    resource = "department"
    titles = ("Отделы", "Отдел", "Новый отдел", "Изменение отдела")
    label_columns = DEPARTMENT_LABELS
    list_columns = ["code", "name", "head", "active"]
    show_columns = ["code", "name", "head", "active", "created_at", "updated_at"]
    add_columns = edit_columns = ["code", "name", "head", "active"]
    search_columns = ["code", "name", "head", "active"]
    order_columns = ["code", "name"]
    base_order = ("name", "asc")
    description_columns = {
        "code": "Постоянный латинский ключ отдела, например sales: на него ссылаются "
                "процессы и права",
        "head": "Руководитель видит записи сотрудников отдела и согласует их заявки",
        "active": "Неактивный отдел остаётся в старых записях, но не предлагается в новых",
    }
    related_views = [DepartmentEmployeeView]

    def pre_delete(self, item):
        _refuse_delete_in_use(item)


class DepartmentApi(CrmModelRestApi):
    resource_name = "department"
    resource = "department"
    datamodel = SQLAInterface(Department)
    list_columns = ["id", "code", "name", "head.id", "head.last_name", "head.first_name",
                    "active"]
    show_columns = ["id", "code", "name", "head.id", "head.last_name", "head.first_name",
                    "active", "created_at", "updated_at"]
    add_columns = edit_columns = ["code", "name", "head", "active"]
    label_columns = DEPARTMENT_LABELS
    order_columns = ["code", "name"]
    search_columns = ["code", "name", "head", "active"]

    def pre_add(self, item):
        self._check(item)

    def pre_update(self, item):
        self._check(item)

    def pre_delete(self, item):
        _refuse_delete_in_use(item)

    @staticmethod
    def _check(item) -> None:
        errors = _uniqueness_errors(item)
        if errors:
            raise FieldErrors(errors)


def register_views(appbuilder):
    appbuilder.add_view_no_menu(DepartmentEmployeeView)
    register(appbuilder, DepartmentView, "Отделы", "Администрирование", icon="fa-sitemap",
             api=DepartmentApi, category_icon="fa-cogs")
    _install_error_pages()


def _install_error_pages() -> None:
    """Russian error pages until app/factory.py calls views.errors.install(app) itself;
    register_views runs inside the app context of create_app."""
    from flask import current_app

    from views import errors

    errors.install(current_app)
