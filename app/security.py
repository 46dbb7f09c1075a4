"""Flask-AppBuilder's security manager with the extended user and the Russian user screens,
the sign-in throttling (app/throttle.py) and sessions that end together (app/sessions.py)."""
from __future__ import annotations

from flask import has_request_context, request
from flask_appbuilder.security.sqla.manager import SecurityManager
from flask_login import user_logged_in

from app import sessions, throttle
from models.user import CrmUser
from views.user import CrmAuthDBView, CrmSecurityApi, CrmUserView


class CrmSecurityManager(SecurityManager):
    user_model = CrmUser
    userdbmodelview = CrmUserView
    authdbview = CrmAuthDBView
    security_api = CrmSecurityApi

    def _has_view_access(self, user, permission_name: str, view_name: str) -> bool:
        """Answered from the user's rights read once per request: FAB asks once per menu
        item and per list row's buttons, each time with a query (a deal list: 50 of them)."""
        roles = self.get_user_roles(user)
        if not has_request_context() or any(r.name in self.builtin_roles for r in roles):
            return super()._has_view_access(user, permission_name, view_name)
        cache = request.environ.setdefault("crm.rights", {})
        key = getattr(user, "id", None)
        if key not in cache:
            cache[key] = self.get_user_permissions(user)
        return (permission_name, view_name) in cache[key]

    # --- sign-in throttling -------------------------------------------------------------
    def auth_user_db(self, username, password):
        """The form and the API login both come here: a locked account is refused before
        its password is looked at, and every failure counts against the address."""
        user = self._login_account(username)
        if user is not None and throttle.minutes_left(user):
            throttle.refuse_locked(user)
            return None
        found = super().auth_user_db(username, password)
        if found is None:
            throttle.note_failed_attempt()
        return found

    def _login_account(self, username):
        if not username:
            return None
        return self.find_user(username=username) or self.find_user(email=username)

    def on_user_login_failed(self, user) -> None:
        # FAB has just counted the wrong password and committed it.
        if throttle.lock_if_too_many(user):
            self.update_user(user)

    # --- sessions and tokens ------------------------------------------------------------
    def create_login_manager(self, app):
        lm = super().create_login_manager(app)
        lm.user_loader(self._load_session_user)
        # FAB hands over `current_app`, a proxy: the signal is sent by the app itself.
        user_logged_in.connect(lambda _app, user, **_kw: sessions.remember(user),
                               app._get_current_object(), weak=False)
        return lm

    def _load_session_user(self, pk):
        user = self.load_user(pk)
        if user is not None and sessions.session_is_current(user):
            return user
        return None

    def create_jwt_manager(self, app):
        jwt_manager = super().create_jwt_manager(app)
        jwt_manager.additional_claims_loader(sessions.token_claims)
        jwt_manager.token_in_blocklist_loader(sessions.token_is_revoked)
        return jwt_manager

    def on_user_logout(self, user) -> None:
        sessions.end_other_sessions(user)
        self.update_user(user)

    def reset_password(self, userid, password):
        """The profile's «сменить пароль» and the admin's reset both end the user's other
        sessions and tokens."""
        user = self.get_user_by_id(userid)
        if user is not None:
            sessions.end_other_sessions(user)
        return super().reset_password(userid, password)
