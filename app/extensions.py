from flask_appbuilder import AppBuilder
from flask_appbuilder.models.sqla.base import SQLA
from flask_appbuilder.models.sqla import Model
from flask_migrate import Migrate
from flask_wtf.csrf import CSRFProtect

db = SQLA(model_class=Model)
appbuilder = AppBuilder(update_perms=True)
migrate = Migrate()
csrf = CSRFProtect()
