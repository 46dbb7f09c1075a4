"""The application factory."""
from __future__ import annotations

import logging

from flask import Flask
from flask_appbuilder import AppBuilder
from flask_appbuilder.api import BaseApi

from app.extensions import csrf, db, migrate
from app.forms import install_blank_choice_label
from config import BASE_DIR, INSTANCE_DIR, Config
from rules.durations import configure_working_hours, parse_clock


def create_app(test_config: dict | None = None) -> Flask:
    app = Flask("app", root_path=str(BASE_DIR / "app"), instance_path=str(INSTANCE_DIR))
    app.config.from_object(Config)
    # Permissions and FAB tables are written by migrations and `flask crm seed`, never at start.
    app.config["FAB_CREATE_DB"] = False
    app.config["FAB_UPDATE_PERMS"] = False
    app.config["BABEL_TRANSLATION_DIRECTORIES"] = str(BASE_DIR / "app" / "translations")
    app.config["FAB_SECURITY_MANAGER_CLASS"] = "app.security.CrmSecurityManager"
    app.config["FAB_INDEX_VIEW"] = "views.home.HomeView"
    if test_config:
        app.config.update(test_config)
    install_working_hours(app)

    db.init_app(app)
    migrate.init_app(app, db, directory=str(BASE_DIR / "migrations"),
                     render_as_batch=True, compare_type=True)

    # Not at the top, a cycle: models import app.extensions, which loads app/__init__ and so
    # this module (models → app → factory → models; jobs.tasks → app.create_app likewise).
    import models.all  # noqa: F401  every model registered before FAB and Alembic look
    from app import cli, jinja, listeners
    from process.effects.registry import check_registry
    from views import errors, registry

    with app.app_context():
        appbuilder = AppBuilder(update_perms=False)
        appbuilder.init_app(app, db.session)
        registry.register_all(appbuilder)
    errors.install(app)
    install_csrf(app)
    install_blank_choice_label()
    listeners.install()
    check_registry()
    jinja.install(app)
    cli.install(app)
    logging.getLogger("flask_appbuilder").setLevel(logging.WARNING)
    return app


def install_working_hours(app: Flask) -> None:
    """Deadlines are computed in rules code that has no app at hand, so the office hours
    are handed over once here; a bad WORK_DAY_* value stops the start, not a transition."""
    configure_working_hours(parse_clock(app.config["WORK_DAY_START"]),
                            parse_clock(app.config["WORK_DAY_END"]))


def install_csrf(app: Flask) -> None:
    """CSRF on every form post. The REST API is exempt: it takes JSON only (a cross-site
    form cannot send that) and is used with a bearer token."""
    csrf.init_app(app)
    for view in app.appbuilder.baseviews:
        if isinstance(view, BaseApi) and view.blueprint is not None:
            csrf.exempt(view.blueprint)
