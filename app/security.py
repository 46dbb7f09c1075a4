"""Flask-AppBuilder's security manager with the extended user and the Russian user screens."""
from __future__ import annotations

from flask_appbuilder.security.sqla.manager import SecurityManager

from models.user import CrmUser
from views.user import CrmUserView


class CrmSecurityManager(SecurityManager):
    user_model = CrmUser
    userdbmodelview = CrmUserView
