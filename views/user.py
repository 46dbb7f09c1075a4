"""Screens and REST API of departments (with the users of each department on its page), and
the Russian users screen the security manager uses."""
from __future__ import annotations

from flask import abort, flash, redirect
from flask_appbuilder import expose
from flask_appbuilder.actions import action
from flask_appbuilder.api import safe
from flask_appbuilder.fields import QuerySelectMultipleField
from flask_appbuilder.fieldwidgets import Select2ManyWidget
from flask_appbuilder.models.sqla.filters import FilterEqual
from flask_appbuilder.models.sqla.interface import SQLAInterface
from flask_appbuilder.security.sqla.models import Role
from flask_appbuilder.security.api import SecurityApi
from flask_appbuilder.security.decorators import has_access
from flask_appbuilder.security.views import AuthDBView, AuthView, UserDBModelView
from sqlalchemy import func, select
from sqlalchemy import inspect as sa_inspect
from wtforms import BooleanField, ValidationError, validators

from app import throttle
from app.access import role_labels
from app.extensions import db
from app.formatting import format_datetime
from errors import CrmError, FieldErrors
from models.labels import DEPARTMENT_LABELS, USER_LABELS
from models.user import CrmUser, Department
from app.formatting import display
from views.base import CrmModelRestApi, CrmModelView, register
from views.pickers import PickerField, PickerViewMixin

USER_DESCRIPTIONS = {
    "first_name": "Имя (можно с отчеством)",
    "username": "Логин для входа в систему",
    "email": "Адрес электронной почты для уведомлений",
    "active": "Сотрудника лучше не удалять, а сделать неактивным: его записи сохранят автора",
    "roles": "Роли определяют, что пользователь видит и может делать",
    "department": "Руководитель отдела видит записи сотрудников отдела",
    "notify_email": "Копия каждого уведомления из системы придёт и на e-mail; сотрудник "
                    "может сам изменить это на странице «Уведомления»",
    "deputy": "Кому переходят согласования сотрудника, пока он в отпуске, на больничном "
              "или в отгуле; без заместителя — руководителю отдела",
}
NOT_OWN_DEPUTY = "Сотрудник не может быть заместителем самому себе"
# Roles Flask-AppBuilder needs that the access table does not list.
SYSTEM_ROLE_LABELS = {"public": "Гость (без входа)"}
UNLOCK_LABEL = "Снять блокировку входа"
IN_USE_MESSAGE = ("В отделе есть сотрудники ({count}): переведите их в другой отдел, "
                  "затем удалите отдел. Или снимите отметку «Активен».")


# --- how values look on these screens ---------------------------------------------------
def role_label(role) -> str:
    return role_labels().get(role.name) or SYSTEM_ROLE_LABELS.get(role.name, role.name)


def display_roles(roles) -> str:
    return ", ".join(sorted(role_label(r) for r in roles or ()))


def _formatters(columns, **special) -> dict:
    return {**{c: display for c in columns}, **special}


# --- departments ------------------------------------------------------------------------
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


def _unknown_related_errors(item, fields: dict[str, str]) -> dict[str, str]:
    """marshmallow-sqlalchemy turns an unknown related id into a NEW object, which the save
    would then try to insert (a 500). A related object must already exist."""
    errors = {}
    for field, message in fields.items():
        value = getattr(item, field, None)
        if value is not None and sa_inspect(value).persistent is False:
            errors[field] = message
    return errors


def _active_field():
    """FAB marks a non-nullable flag as required, so an unticked box could never be saved:
    a plain checkbox instead."""
    return BooleanField("Активен", default=True,
                        description="Неактивный отдел остаётся в старых записях, "
                                    "но не предлагается в новых")


def user_choice_label(user) -> str:
    """Namesakes are common: the choice says the position and the login too (the admin's
    screen; other pickers show the position alone)."""
    extra = ", ".join(v for v in (user.position, user.username) if v)
    return f"{user} ({extra})" if extra else str(user)


def _head_field(active_only: bool):
    """A new department gets an active head; an edit keeps offering the current one even
    if that user has since been deactivated, so the form still validates."""
    return PickerField(
        "Руководитель", model=CrmUser, get_label=user_choice_label,
        rel_filters=[["active", FilterEqual, True]] if active_only else None,
        description="Руководитель видит записи сотрудников отдела и согласует их заявки")


def _refuse_delete_in_use(item) -> None:
    """Users point at their department; SQLite does not enforce the foreign key, so a delete
    would leave them pointing at nothing. Refuse in words instead of a database error."""
    count = db.session.scalar(
        select(func.count(CrmUser.id)).where(CrmUser.department_id == item.id))
    if count:
        raise CrmError(IN_USE_MESSAGE.format(count=count))


_ACTIVE_DEPARTMENTS = [["active", FilterEqual, True]]


class DepartmentEmployeeView(CrmModelView):
    """The users of one department, shown on the department's page (read only: users are
    edited on the users screen, which owns passwords and roles)."""

    datamodel = SQLAInterface(CrmUser)
    resource = "department"
    titles = ("Сотрудники отдела", "Сотрудник", "Новый сотрудник", "Изменение сотрудника")
    base_permissions = ["can_read"]
    label_columns = USER_LABELS
    list_columns = ["last_name", "first_name", "position", "phone", "email", "active"]
    show_columns = ["last_name", "first_name", "username", "position", "department", "phone",
                    "email", "active", "roles"]
    search_columns = ["last_name", "first_name", "position", "active"]
    order_columns = ["last_name", "first_name", "position"]
    base_order = ("last_name", "asc")
    formatters_columns = _formatters(show_columns, roles=display_roles)


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
    formatters_columns = _formatters(["code", "name", "head", "active"])
    add_form_extra_fields = {"active": _active_field(), "head": _head_field(True)}
    edit_form_extra_fields = {"active": _active_field(), "head": _head_field(False)}
    description_columns = {
        "code": "Постоянный латинский ключ отдела, например sales: на него ссылаются "
                "процессы и права",
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
        errors = {**_uniqueness_errors(item),
                  **_unknown_related_errors(item, {"head": "Пользователь не найден"})}
        if errors:
            raise FieldErrors(errors)


# --- users ------------------------------------------------------------------------------
def _roles_query():
    return sorted(db.session.query(Role).all(), key=role_label)


def _roles_field():
    """Roles offered by their Russian names (the access table's labels), not the keys."""
    return QuerySelectMultipleField(
        "Роли", query_func=_roles_query, get_pk_func=lambda r: r.id, get_label=role_label,
        widget=Select2ManyWidget(), description=USER_DESCRIPTIONS["roles"],
        validators=[validators.DataRequired(message="Выберите хотя бы одну роль")])


def _not_self(form, field):
    # FAB gives the edit form the record's id as `_id`; a new user cannot be picked yet.
    pk = getattr(form, "_id", None)
    if field.data is not None and pk is not None and str(field.data.id) == str(pk):
        raise ValidationError(NOT_OWN_DEPUTY)


def _deputy_field():
    """Active users, searched on the server; not the user themself."""
    return PickerField(USER_LABELS["deputy"], [validators.Optional(), _not_self],
                       model=CrmUser, get_label=user_choice_label,
                       rel_filters=[["active", FilterEqual, True]],
                       description=USER_DESCRIPTIONS["deputy"])


def _notify_email_field():
    # A NOT NULL flag would be a required field in FAB's form: unticked could not be saved.
    return BooleanField(USER_LABELS["notify_email"], default=False,
                        description=USER_DESCRIPTIONS["notify_email"])


USER_FIELDSETS = [
    ("Пользователь", {"fields": ["username", "active", "roles", "login_count"]}),
    ("Сотрудник", {"fields": ["last_name", "first_name", "position", "department", "deputy",
                              "phone", "email", "notify_email"], "expanded": True}),
]


class CrmUserView(PickerViewMixin, UserDBModelView):
    """The users screen: Russian titles, labels, hints and values (dates in the local zone,
    Да/Нет, role names from the access table), active departments offered on new users, the
    deputy searched among active users."""

    list_title = "Пользователи"
    show_title = "Пользователь"
    add_title = "Новый пользователь"
    edit_title = "Изменение пользователя"
    label_columns = {**UserDBModelView.label_columns, **USER_LABELS,
                     "login_locked_until": "Вход заблокирован до"}
    description_columns = USER_DESCRIPTIONS
    list_columns = ["last_name", "first_name", "username", "position", "department", "email",
                    "active", "roles"]
    add_columns = ["last_name", "first_name", "username", "position", "department", "deputy",
                   "phone", "email", "notify_email", "active", "roles", "password",
                   "conf_password"]
    edit_columns = ["last_name", "first_name", "username", "position", "department", "deputy",
                    "phone", "email", "notify_email", "active", "roles"]
    search_columns = ["last_name", "first_name", "username", "email", "department", "active",
                      "roles"]
    show_fieldsets = USER_FIELDSETS + [
        ("Аудит", {"fields": ["last_login", "fail_login_count", "login_locked_until",
                             "created_on", "changed_on"], "expanded": False}),
    ]
    user_show_fieldsets = USER_FIELDSETS
    formatters_columns = _formatters(
        ["first_name", "last_name", "username", "position", "department", "deputy", "phone",
         "email", "active", "login_count", "fail_login_count", "notify_email"],
        roles=display_roles, last_login=format_datetime, created_on=format_datetime,
        changed_on=format_datetime, login_locked_until=format_datetime)
    add_form_query_rel_fields = {"department": _ACTIVE_DEPARTMENTS}
    # The password fields are FAB's own; their labels come from app/translations.
    add_form_extra_fields = {**UserDBModelView.add_form_extra_fields, "roles": _roles_field(),
                             "notify_email": _notify_email_field(), "deputy": _deputy_field()}
    edit_form_extra_fields = {"roles": _roles_field(), "notify_email": _notify_email_field(),
                              "deputy": _deputy_field()}

    @expose("/show/<pk>", methods=["GET"])
    @has_access
    def show(self, pk):
        """FAB's user page, offering the lifting of a sign-in lock beside its password
        reset (FAB lists the reset alone)."""
        item = self.datamodel.get(pk, self._base_filters)
        if not item:
            abort(404)
        actions = {name: self.actions[name] for name in ("resetpasswords", "unlock_login")}
        widgets = self._get_show_widget(pk, item, actions=actions)
        self.update_redirect()
        return self.render_template(self.show_template, pk=pk, title=self.show_title,
                                    widgets=widgets, appbuilder=self.appbuilder,
                                    related_views=self._related_views)

    @action("unlock_login", UNLOCK_LABEL, confirmation=None, icon="fa-unlock",
            multiple=True, single=True)
    def unlock_login(self, items):
        """Lifts the lock wrong passwords put on the account (app/throttle.py)."""
        users = items if isinstance(items, list) else [items]
        lifted = [u for u in users if u is not None and throttle.unlock(u)]
        db.session.commit()
        if lifted:
            flash(f"Блокировка входа снята: {', '.join(u.username for u in lifted)}", "success")
        else:
            flash("Вход этих пользователей не был заблокирован", "info")
        return redirect(self.get_redirect())


# --- signing in -------------------------------------------------------------------------
class CrmAuthDBView(AuthDBView):
    """FAB's sign-in form; a refusal of the throttling says why instead of «неверный
    логин»."""

    @property
    def invalid_login_message(self):
        return throttle.refusal() or AuthView.invalid_login_message


class CrmSecurityApi(SecurityApi):
    """FAB's /api/v1/security/login, with the throttling's reason in the 401 body."""

    @expose("/login", methods=["POST"])
    @safe
    def login(self):
        """A token for the API.
        ---
        post:
          summary: Вход в API
          description: >-
            Логин и пароль в обмен на токен (access_token; с refresh: true ещё и
            refresh_token). После нескольких неверных паролей подряд вход в учётную
            запись блокируется на время, а адрес, с которого много неудачных попыток,
            получает 429.
          requestBody:
            required: true
            content:
              application/json:
                schema:
                  type: object
                  properties:
                    username: {type: string}
                    password: {type: string}
                    provider: {type: string, enum: [db, ldap]}
                    refresh: {type: boolean}
          responses:
            200:
              description: Вход выполнен
              content:
                application/json:
                  schema:
                    type: object
                    properties:
                      access_token: {type: string}
                      refresh_token: {type: string}
            400:
              $ref: '#/components/responses/400'
            401:
              $ref: '#/components/responses/401'
            429:
              description: Слишком много неудачных попыток входа с этого адреса
            500:
              $ref: '#/components/responses/500'
        """
        response = super().login()
        refusal = throttle.refusal()
        if refusal and response.status_code == 401:
            return self.response(401, message=refusal)
        return response


def register_views(appbuilder):
    appbuilder.add_view_no_menu(DepartmentEmployeeView)
    register(appbuilder, DepartmentView, "Отделы", "Администрирование", icon="fa-sitemap",
             api=DepartmentApi, category_icon="fa-cogs")
