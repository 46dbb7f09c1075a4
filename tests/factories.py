"""Users and records for tests: one user per role, and small builders."""
from __future__ import annotations

from flask import current_app
from sqlalchemy import select

from app.access import access_table
from app.extensions import db
from models.user import CrmUser, Department

PASSWORD = "test-Pa55word"


def make_user(username: str, roles: list[str], department: Department | None = None,
              first: str = "Иван", last: str = "Тестов") -> CrmUser:
    sm = current_app.appbuilder.sm
    role_objs = [sm.find_role(r) for r in roles]
    user = sm.add_user(username, first, last, f"{username}@example.com", role_objs,
                       password=PASSWORD)
    assert user, f"could not create {username}"
    user = db.session.get(CrmUser, user.id)
    if department is not None:
        user.department_id = department.id
        db.session.commit()
    return user


def department(code: str, name: str) -> Department:
    dep = db.session.scalar(select(Department).where(Department.code == code))
    if dep is None:
        dep = Department(code=code, name=name)
        db.session.add(dep)
        db.session.commit()
    return dep


def make_role_users() -> None:
    """`admin` and `<role>` for every role of the access table; two managers in sales."""
    sm = current_app.appbuilder.sm
    admin = sm.find_user(username="admin")
    if admin is not None:
        sm.reset_password(admin.id, PASSWORD)
    sales = department("sales", "Отдел продаж")
    execution = department("execution", "Отдел исполнения")
    for role in access_table().roles:
        if role == "admin":
            continue
        dep = sales if role in ("manager", "sales_head", "secretary") else execution
        make_user(role, [role], dep)
    make_user("manager2", ["manager"], sales, first="Пётр", last="Второв")
    make_user("outsider", ["manager"], execution, first="Олег", last="Чужой")
    sales.head_id = sm.find_user(username="sales_head").id
    db.session.commit()
