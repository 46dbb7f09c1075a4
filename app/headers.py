"""Security headers on every response, and the Content-Security-Policy nonce.

Scripts run only from this server's files or from inline blocks carrying the request's
nonce: Flask-AppBuilder's templates already ask `csp_nonce()` for it (baselib.get_nonce),
and so do ours. No page uses inline event handlers (`onclick=`...) or `javascript:` links;
app/static/crm.js binds what they did. Inline styles stay allowed: Flask-AppBuilder,
select2 and the datepicker set them from script, and the stage colours are validated
colours (rules/definition.py)."""
from __future__ import annotations

import secrets

from flask import has_request_context, request

HEADERS = {
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
}


def csp_nonce() -> str:
    """One random nonce per request, the same for every script tag of the page (kept on the
    request: an app context may serve several)."""
    if not has_request_context():
        return ""  # a template rendered for a letter: no page, no policy
    nonce = request.environ.get("crm.csp_nonce")
    if nonce is None:
        nonce = request.environ["crm.csp_nonce"] = secrets.token_urlsafe(18)
    return nonce


def content_security_policy(nonce: str) -> str:
    return "; ".join([
        "default-src 'self'",
        f"script-src 'self' 'nonce-{nonce}'",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data:",
        "font-src 'self' data:",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ])


def add_security_headers(response):
    for name, value in HEADERS.items():
        response.headers.setdefault(name, value)
    response.headers.setdefault("Content-Security-Policy", content_security_policy(csp_nonce()))
    return response


def install(app) -> None:
    app.jinja_env.globals["csp_nonce"] = csp_nonce
    app.after_request(add_security_headers)


__all__ = ["add_security_headers", "content_security_policy", "csp_nonce", "install"]
