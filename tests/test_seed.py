"""`flask crm seed`: idempotent, by stable keys, never overwriting what an admin edited."""
import pytest
from sqlalchemy import func, select

from app.access import parse_access
from app.extensions import db
from app.reference_seed import seed_reference_lists
from errors import SeedError
from models.reference import ReferenceItem, ReferenceList
from models.seed import SeedRecord


def _rights(app, role_name):
    role = app.appbuilder.sm.find_role(role_name)
    return {(pv.view_menu.name, pv.permission.name) for pv in role.permissions}


def _item(list_code, code):
    return db.session.scalar(select(ReferenceItem).join(ReferenceList).where(
        ReferenceList.code == list_code, ReferenceItem.code == code))


def test_seed_twice_changes_nothing(app, runner):
    before_rights = {r: _rights(app, r) for r in ("manager", "director", "secretary")}
    before_items = db.session.scalar(select(func.count(ReferenceItem.id)))
    result = runner.invoke(args=["crm", "seed"])
    assert result.exit_code == 0, result.output
    assert "Роли:" in result.output and "Справочники:" in result.output
    db.session.expire_all()
    assert {r: _rights(app, r) for r in before_rights} == before_rights
    assert db.session.scalar(select(func.count(ReferenceItem.id))) == before_items


def test_manager_rights_follow_the_access_table(app):
    rights = _rights(app, "manager")
    assert ("deal", "can_read") in rights and ("deal", "can_write") in rights
    assert ("deal", "can_delete") not in rights
    assert ("audit", "can_read") not in rights
    assert ("menu_access", "Контрагенты") not in rights  # menus are (view_menu, perm)
    assert ("Контрагенты", "menu_access") in rights
    assert ("CrmUserView", "can_userinfo") in rights


@pytest.fixture()
def restore_manager_company_write(app):
    yield
    sm = app.appbuilder.sm
    role = sm.find_role("manager")
    pv = sm.find_permission_view_menu("can_write", "company")
    if pv not in role.permissions:
        sm.add_permission_role(role, pv)


def test_right_removed_by_admin_is_not_restored(app, runner, restore_manager_company_write):
    sm = app.appbuilder.sm
    role = sm.find_role("manager")
    sm.del_permission_role(role, sm.find_permission_view_menu("can_write", "company"))
    runner.invoke(args=["crm", "seed"])
    db.session.expire_all()
    assert ("company", "can_write") not in _rights(app, "manager")
    assert ("company", "can_read") in _rights(app, "manager")


@pytest.fixture()
def restore_lost_reasons(app):
    yield
    item = _item("lost_reason", "no_money")
    item.label, item.active = "Денег нет", True
    db.session.commit()


def test_reference_item_edited_by_admin_is_kept(app, restore_lost_reasons):
    item = _item("lost_reason", "no_money")
    item.label = "Нет бюджета"
    item.active = False
    db.session.commit()
    seed_reference_lists()
    db.session.expire_all()
    item = _item("lost_reason", "no_money")
    assert (item.label, item.active) == ("Нет бюджета", False)


def test_untouched_item_follows_the_shipped_list(app):
    item = _item("priority", "A")
    record = db.session.scalar(select(SeedRecord).where(SeedRecord.key == "priority.A"))
    # As if an older release had shipped another label and the admin never touched it.
    item.label = "A (старое)"
    record.value = {**record.value, "label": "A (старое)"}
    db.session.commit()
    seed_reference_lists()
    db.session.expire_all()
    assert _item("priority", "A").label == "A — высокий"


def test_item_deleted_by_admin_is_not_recreated(app):
    item = _item("event_topic", "consultation")
    db.session.delete(item)
    db.session.commit()
    seed_reference_lists()
    assert _item("event_topic", "consultation") is None
    # put it back for the other tests
    ref = db.session.scalar(select(ReferenceList).where(ReferenceList.code == "event_topic"))
    db.session.add(ReferenceItem(list=ref, code="consultation", label="Консультация",
                                 sort_order=70))
    db.session.commit()


@pytest.mark.parametrize("data, message", [
    ({"resources": {"deal": "Сделки"}, "roles": {"x": {"access": {"nope": "r"}}}},
     "неизвестный ресурс «nope»"),
    ({"resources": {"deal": "Сделки"}, "roles": {"x": {"access": {"deal": "w"}}}},
     "должны включать r"),
    ({"resources": {"deal": "Сделки"}, "roles": {"x": {"scope": "planet"}}},
     "неизвестная область «planet»"),
    ({"roles": {}}, "нужны разделы"),
])
def test_bad_access_table_is_refused(data, message):
    with pytest.raises(SeedError) as err:
        parse_access(data)
    assert message in str(err.value)


def test_admin_created_once_with_given_password(app, runner, monkeypatch):
    monkeypatch.setenv("ADMIN_USERNAME", "chief")
    monkeypatch.setenv("ADMIN_PASSWORD", "Chief-pass-1")
    result = runner.invoke(args=["crm", "seed"])
    assert result.exit_code == 0, result.output
    sm = app.appbuilder.sm
    user = sm.find_user(username="chief")
    assert user is not None and "admin" in {r.name for r in user.roles}
    assert sm.auth_user_db("chief", "Chief-pass-1") is not None
    assert "пароль" not in result.output  # nothing printed when the password was given


def test_admin_without_password_gets_a_random_one_printed(app, runner, monkeypatch):
    monkeypatch.setenv("ADMIN_USERNAME", "boss")
    monkeypatch.delenv("ADMIN_PASSWORD", raising=False)
    result = runner.invoke(args=["crm", "seed"])
    line = next(line for line in result.output.splitlines() if "boss" in line)
    password = line.split("пароль: ")[1].split(" ")[0]
    assert len(password) >= 12
    assert app.appbuilder.sm.auth_user_db("boss", password) is not None
    again = runner.invoke(args=["crm", "seed"])
    assert "boss" not in again.output  # printed once only
