"""Flask-AppBuilder's security manager with the extended user and Russian user screens."""
from __future__ import annotations

from flask_appbuilder.security.sqla.manager import SecurityManager
from flask_appbuilder.security.views import UserDBModelView

from models.user import CrmUser

USER_LABELS = {
    "first_name": "Имя", "last_name": "Фамилия", "username": "Логин", "password": "Пароль",
    "conf_password": "Пароль ещё раз", "active": "Активен", "email": "E-mail",
    "roles": "Роли", "groups": "Группы", "position": "Должность", "phone": "Телефон",
    "department": "Отдел", "last_login": "Последний вход", "login_count": "Входов",
    "fail_login_count": "Неудачных входов", "created_on": "Создан", "changed_on": "Изменён",
    "created_by": "Создал", "changed_by": "Изменил", "get_full_name": "ФИО",
}


class CrmUserView(UserDBModelView):
    list_title = "Пользователи"
    show_title = "Пользователь"
    add_title = "Новый пользователь"
    edit_title = "Изменение пользователя"
    label_columns = {**UserDBModelView.label_columns, **USER_LABELS}
    list_columns = ["last_name", "first_name", "username", "position", "department", "email",
                    "active", "roles"]
    add_columns = ["last_name", "first_name", "username", "position", "department", "phone",
                   "email", "active", "roles", "password", "conf_password"]
    edit_columns = ["last_name", "first_name", "username", "position", "department", "phone",
                    "email", "active", "roles"]
    search_columns = ["last_name", "first_name", "username", "email", "department", "active",
                      "roles"]
    show_fieldsets = [
        ("Пользователь", {"fields": ["username", "active", "roles", "login_count"]}),
        ("Сотрудник", {"fields": ["last_name", "first_name", "position", "department", "phone",
                                  "email"], "expanded": True}),
        ("Аудит", {"fields": ["last_login", "fail_login_count", "created_on", "changed_on"],
                   "expanded": False}),
    ]
    user_show_fieldsets = [
        ("Пользователь", {"fields": ["username", "active", "roles", "login_count"]}),
        ("Сотрудник", {"fields": ["last_name", "first_name", "position", "department", "phone",
                                  "email"], "expanded": True}),
    ]


class CrmSecurityManager(SecurityManager):
    user_model = CrmUser
    userdbmodelview = CrmUserView
