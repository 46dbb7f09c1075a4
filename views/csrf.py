"""The CSRF token of the plain (non-WTForms) forms of the screens: the same token FAB's forms
carry. No global CSRFProtect is installed, so each endpoint checks it itself."""
from __future__ import annotations

from flask import current_app, request
from flask_wtf.csrf import CSRFError, generate_csrf, validate_csrf
from wtforms.validators import ValidationError


def check_csrf() -> None:
    if not current_app.config.get("WTF_CSRF_ENABLED", True):
        return
    try:
        validate_csrf(request.form.get("csrf_token"))
    except ValidationError as exc:
        raise CSRFError(str(exc)) from None


def csrf_token() -> str:
    if not current_app.config.get("WTF_CSRF_ENABLED", True):
        return ""
    return generate_csrf()
