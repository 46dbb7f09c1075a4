"""The application factory."""
from __future__ import annotations

import logging

from flask import Flask, current_app, jsonify, request
from flask_appbuilder import AppBuilder
from flask_appbuilder.api import BaseApi
from flask_login import current_user
from flask_wtf.csrf import validate_csrf
from werkzeug.middleware.proxy_fix import ProxyFix
from wtforms.validators import ValidationError

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
    install_proxy(app)

    db.init_app(app)
    migrate.init_app(app, db, directory=str(BASE_DIR / "migrations"),
                     render_as_batch=True, compare_type=True)

    # Not at the top, a cycle: models import app.extensions, which loads app/__init__ and so
    # this module (models → app → factory → models; jobs.tasks → app.create_app likewise).
    import models.all  # noqa: F401  every model registered before FAB and Alembic look
    from app import cli, headers, jinja, listeners, throttle
    from process.effects.registry import check_registry
    from views import errors, registry

    with app.app_context():
        appbuilder = AppBuilder(update_perms=False)
        appbuilder.init_app(app, db.session)
        registry.register_all(appbuilder)
    errors.install(app)
    install_csrf(app)
    throttle.install(app, sign_in_blueprints(app))
    headers.install(app)
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
    if app.config.get("REPORTS_CREATE_AT"):
        parse_clock(app.config["REPORTS_CREATE_AT"])  # the daily reports' job reads it


def install_proxy(app: Flask) -> None:
    """Behind reverse proxies the sign-in limits must see the client's address, not the
    proxy's; only as many X-Forwarded-* hops as configured are trusted."""
    hops = int(app.config.get("PROXY_COUNT") or 0)
    if hops:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops)


def sign_in_blueprints(app: Flask) -> list:
    # cycle: views.user imports models that import app (the factory's own wiring)
    from views.user import CrmSecurityApi

    api = next(v for v in app.appbuilder.baseviews if isinstance(v, CrmSecurityApi))
    return [app.appbuilder.sm.auth_view.blueprint, api.blueprint]


API_CSRF_MESSAGE = ("Запрос изменяет данные, а CSRF-токена нет или он устарел: из браузера "
                    "передайте заголовок X-CSRFToken со значением со страницы системы, "
                    "программе — вход по токену (Authorization: Bearer ...).")
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# Trading a password for a token changes nothing and sets no cookie.
API_LOGIN_PATH = "/api/v1/security/login"


def install_csrf(app: Flask) -> None:
    """CSRF on every form post. The REST API has its own rule (`check_api_csrf`): the
    form check would refuse its bearer-token clients, which need none."""
    csrf.init_app(app)
    for view in app.appbuilder.baseviews:
        if isinstance(view, BaseApi) and view.blueprint is not None:
            csrf.exempt(view.blueprint)
    app.before_request(check_api_csrf)


def check_api_csrf():
    """An API call that changes data on the strength of the session cookie carries the
    session's CSRF token in a header, as the forms carry it in a field: a page of another
    site can make the browser send the cookie (a multipart upload needs no preflight), but
    cannot read the token. A bearer token is no cookie: a page cannot make the browser add
    it, so such calls need no CSRF token."""
    if request.method in _SAFE_METHODS or not request.path.startswith("/api/") \
            or request.path == API_LOGIN_PATH \
            or not current_app.config.get("WTF_CSRF_ENABLED", True):
        return None
    if request.headers.get("Authorization", "").startswith("Bearer ") \
            or not current_user.is_authenticated:
        return None
    token = request.headers.get("X-CSRFToken") or request.headers.get("X-CSRF-Token")
    try:
        validate_csrf(token)
    except ValidationError:
        return jsonify(message=API_CSRF_MESSAGE), 403
    return None
