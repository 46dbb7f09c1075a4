"""Every role against every generated screen and API: allowed, refused, or sent to login,
exactly as app/access.yaml says."""
import pytest

from app.access import access_table
from views.base import CrmModelRestApi, CrmModelView

ROLES = sorted(access_table().roles)


def _views(app, kind):
    return [v for v in app.appbuilder.baseviews if isinstance(v, kind) and v.resource]


def _rights(role):
    if role == "admin":
        return None  # everything
    table = access_table()
    # the rights every signed-in role has (`common`) are part of the table too
    return set(table.roles[role].rights()) | {(view, perm) for perm, view in table.common}


def _allowed(rights, resource, right):
    return rights is None or (resource, right) in rights


def _refused(resp):
    # Flask-AppBuilder answers a signed-in user without the right with a redirect (with
    # "Доступ запрещён" flashed) or 403; never with the page.
    return resp.status_code in (302, 403)


@pytest.mark.parametrize("role", ROLES)
def test_screens_follow_the_access_table(app, login, role):
    user = login(role)
    rights = _rights(role)
    checked = 0
    for view in _views(app, CrmModelView):
        for path, right in ((f"{view.route_base}/list/", "can_read"),
                            (f"{view.route_base}/add", "can_write")):
            if right == "can_write" and "can_write" not in view.base_permissions:
                continue
            resp = user.get(path)
            if _allowed(rights, view.resource, right):
                assert resp.status_code == 200, (role, path, resp.status_code)
            else:
                assert _refused(resp), (role, path, resp.status_code)
            checked += 1
    assert checked >= 4


@pytest.mark.parametrize("role", ROLES)
def test_apis_follow_the_access_table(app, login, role):
    user = login(role)
    rights = _rights(role)
    for api in _views(app, CrmModelRestApi):
        path = f"{api.route_base}/"
        resp = user.api("get", path)
        if _allowed(rights, api.resource, "can_read"):
            assert resp.status_code == 200, (role, path, resp.status_code)
        else:
            assert resp.status_code in (401, 403), (role, path, resp.status_code)
        if not _allowed(rights, api.resource, "can_write"):
            resp = user.api("post", path, json={})
            assert resp.status_code in (401, 403), (role, "POST", path, resp.status_code)


def test_anonymous_is_sent_to_login(app):
    http = app.test_client()
    for view in _views(app, CrmModelView):
        resp = http.get(f"{view.route_base}/list/")
        assert resp.status_code == 302 and "/login" in resp.headers["Location"], view
    for api in _views(app, CrmModelRestApi):
        assert http.get(f"{api.route_base}/").status_code == 401, api


def test_api_responses_never_carry_password_hashes(app, client):
    """Every API lists its columns explicitly; none of them reaches a user's password."""
    for api in _views(app, CrmModelRestApi):
        for attr in ("list_columns", "show_columns", "add_columns", "edit_columns"):
            cols = getattr(api, attr)
            assert all("password" not in c and not c.startswith(("created_by", "changed_by"))
                       or c == "created_by.id" for c in cols), (api, attr, cols)
        body = client.api("get", f"{api.route_base}/").get_data(as_text=True)
        assert "pbkdf2" not in body and "scrypt" not in body and "password" not in body
