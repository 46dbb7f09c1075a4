"""Flask-AppBuilder's security manager with the extended user and the Russian user screens."""
from __future__ import annotations

from flask import has_request_context, request
from flask_appbuilder.security.sqla.manager import SecurityManager

from models.user import CrmUser
from views.user import CrmUserView


class CrmSecurityManager(SecurityManager):
    user_model = CrmUser
    userdbmodelview = CrmUserView

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
