"""Russian error pages and Russian API error bodies.

A screen error is a page in the panel's layout with a plain sentence and a way back, never a
traceback. A path under /api/ answers JSON {"message": "..."} in Russian; the English messages
Flask-AppBuilder, marshmallow and flask-jwt-extended put in API error bodies are translated
on the way out, so a client sees one language whichever layer refused the request."""
from __future__ import annotations

import json
import logging
import re

from flask import current_app, jsonify, render_template, request
from markupsafe import escape
from werkzeug.exceptions import HTTPException, InternalServerError

from app.extensions import db

log = logging.getLogger(__name__)

ERROR_CODES = (400, 401, 403, 404, 405, 413, 429, 500)

# (title, explanation) per status.
PAGES: dict[int, tuple[str, str]] = {
    400: ("Неверный запрос",
          "Запрос не удалось обработать. Обновите страницу и повторите действие."),
    401: ("Нужен вход", "Войдите в систему, чтобы продолжить."),
    403: ("Доступ запрещён",
          "У вас нет прав на эту страницу или действие. Если они нужны для работы, "
          "обратитесь к администратору."),
    404: ("Страница не найдена",
          "Такой страницы или записи нет: возможно, её удалили или ссылка неверна."),
    405: ("Действие недоступно", "Этот адрес не поддерживает такое действие."),
    413: ("Слишком большой файл",
          "Размер файла или формы превышает допустимый. Уменьшите файл и попробуйте снова."),
    429: ("Слишком много запросов", "Подождите немного и повторите попытку."),
    500: ("Внутренняя ошибка",
          "Что-то пошло не так, изменения не сохранены. Ошибка записана в журнал; "
          "повторите действие позже или сообщите администратору."),
}
CSRF_MESSAGE = ("Форма устарела или отправлена не со страницы системы. "
                "Обновите страницу и повторите действие.")

# English messages of Flask-AppBuilder's REST layer -> Russian.
API_MESSAGES = {
    "Not found": "Запись не найдена",
    "Forbidden": "Недостаточно прав для этого действия",
    "Not authorized": "Нужна авторизация: войдите или передайте действующий токен",
    "Arguments are not correct": "Неверные параметры запроса",
    "Could not process entity": "Не удалось обработать данные",
    "Internal error": "Внутренняя ошибка сервера",
    "Request is not JSON": "Тело запроса должно быть в формате JSON",
    "Not a valid rison argument": "Неверный параметр q (ожидается rison)",
    "Not a valid rison/json argument": "Неверный параметр q (ожидается rison или JSON)",
    "Fields to update are missing": "Не указаны поля для изменения",
    "Access is Denied": "Доступ запрещён",
    # flask-jwt-extended (its key is "msg")
    "Missing Authorization Header": "Нужна авторизация: передайте заголовок Authorization",
    "Token has expired": "Срок действия токена истёк: войдите заново",
    # app/sessions.py: the user logged out or the password changed since the token was issued
    "Token has been revoked": "Сеанс завершён: войдите заново",
    "Not enough segments": "Неверный токен",
    "Signature verification failed": "Неверный токен",
}
# marshmallow's default field messages (API 422 bodies) -> Russian.
FIELD_MESSAGES = {
    "Missing data for required field.": "Обязательное поле",
    "Field may not be null.": "Поле не может быть пустым",
    "Unknown field.": "Неизвестное поле",
    "Not a valid integer.": "Ожидается целое число",
    "Not a valid number.": "Ожидается число",
    "Not a valid string.": "Ожидается строка",
    "Not a valid boolean.": "Ожидается да или нет (true/false)",
    "Not a valid datetime.": "Неверные дата и время",
    "Not a valid date.": "Неверная дата",
    "Not a valid email address.": "Неверный адрес e-mail",
    "Not a valid list.": "Ожидается список",
    "Not a valid mapping type.": "Ожидается объект",
    "Invalid input type.": "Неверный тип значения",
    "Length must be between 0 and 64.": "Длина не больше 64 символов",
    "Related object does not exist.": "Связанная запись не найдена",
}
# marshmallow's parameterised messages: (pattern, Russian template).
FIELD_PATTERNS = [
    (re.compile(r"^Longer than maximum length (\d+)\.$"), "Не длиннее {0} символов"),
    (re.compile(r"^Shorter than minimum length (\d+)\.$"), "Не короче {0} символов"),
    (re.compile(r"^Length must be between (\d+) and (\d+)\.$"), "Длина от {0} до {1} символов"),
    (re.compile(r"^Must be greater than or equal to (\S+) and less than or equal to (\S+)\.$"),
     "Значение от {0} до {1}"),
    (re.compile(r"^Must be one of: (.+)\.$"), "Допустимые значения: {0}"),
]
DB_ERROR_PREFIX = "Database exception occurred"
DB_ERROR_MESSAGE = ("Запись не сохранена: данные противоречат уже сохранённым "
                    "(например, повторяется уникальное значение)")


def is_api_request() -> bool:
    return request.path.startswith("/api/")


def _status_of(exc) -> int:
    if isinstance(exc, HTTPException) and exc.code:
        return exc.code
    return 500


def _message(status: int, exc) -> tuple[str, str]:
    title, text = PAGES.get(status, PAGES[500] if status >= 500 else PAGES[400])
    if status == 400 and type(exc).__name__ == "CSRFError":
        text = CSRF_MESSAGE
    if status == 429 and getattr(getattr(exc, "limit", None), "error_message", None):
        text = exc.description  # a limit that says why (the sign-in limit of app/throttle.py)
    if status == 413:
        limit = current_app.config.get("UPLOAD_MAX_BYTES")
        if limit:
            text = (f"Размер файла или формы превышает допустимый "
                    f"({limit / 1024 / 1024:.1f} МБ). Уменьшите файл и попробуйте снова.")
    return title, text


def handle_error(exc):
    status = _status_of(exc)
    if status >= 500:
        # The session may be mid-transaction; rendering the layout reads the database.
        _rollback()
        original = getattr(exc, "original_exception", None)
        if original is not None:
            log.error("Ошибка при обработке %s %s", request.method, request.path,
                      exc_info=original)
    title, text = _message(status, exc)
    if is_api_request():
        return jsonify(message=f"{title}. {text}" if status >= 500 else text), status
    return render_error_page(status, title, text), status


def render_error_page(status: int, title: str, text: str) -> str:
    """The page in the panel's layout; a bare page if the layout itself fails, so an error
    page never turns into a second error."""
    appbuilder = getattr(current_app, "appbuilder", None)
    try:
        return render_template("crm/error.html", status=status, title=title, text=text,
                               appbuilder=appbuilder,
                               base_template=appbuilder.base_template)
    except Exception:  # noqa: BLE001 - the fallback exists for exactly this
        log.exception("Не удалось показать страницу ошибки в общем оформлении")
        _rollback()
        return (f'<!doctype html><html lang="ru"><head><meta charset="utf-8">'
                f"<title>{escape(title)}</title></head><body><h1>{escape(title)}</h1>"
                f'<p>{escape(text)}</p><p><a href="/">На главную</a></p></body></html>')


def _rollback() -> None:
    try:
        db.session.rollback()
    except Exception:  # noqa: BLE001 - nothing more to do for a broken connection
        log.exception("rollback failed")


def _translate_value(value):
    if isinstance(value, str):
        if value in API_MESSAGES:
            return API_MESSAGES[value]
        if value in FIELD_MESSAGES:
            return FIELD_MESSAGES[value]
        if value.startswith(DB_ERROR_PREFIX):
            return DB_ERROR_MESSAGE
        for pattern, template in FIELD_PATTERNS:
            match = pattern.match(value)
            if match:
                return template.format(*match.groups())
        return value
    if isinstance(value, list):
        return [_translate_value(v) for v in value]
    if isinstance(value, dict):
        return {k: _translate_value(v) for k, v in value.items()}
    return value


def translate_api_errors(response):
    """after_request: Russian messages in API error bodies."""
    if response.status_code < 400 or not request.path.startswith("/api/") \
            or not response.is_json or response.direct_passthrough:
        return response
    try:
        body = json.loads(response.get_data(as_text=True))
    except ValueError:
        return response
    if not isinstance(body, dict):
        return response
    changed = {k: (_translate_value(v) if k in ("message", "msg") else v)
               for k, v in body.items()}
    if "msg" in changed and "message" not in changed:
        changed["message"] = changed["msg"]
    if changed != body:
        response.set_data(json.dumps(changed, ensure_ascii=False))
    return response


_BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_FORM_TYPES = frozenset({"multipart/form-data", "application/x-www-form-urlencoded"})


def read_api_body_within_limit() -> None:
    """before_request: an API body is read here, where an over-size one becomes the 413
    above. Read inside an endpoint, Flask-AppBuilder's @safe would turn the same refusal
    into a 500. The body is kept: request.json and request.files use what was read."""
    if request.method not in _BODY_METHODS or not is_api_request():
        return
    if request.mimetype in _FORM_TYPES:
        _ = request.form
    else:
        request.get_data()


def install(app) -> None:
    """Registers the handlers once (create_app may call it, and so may views.user)."""
    if app.extensions.get("crm_error_pages"):
        return
    app.extensions["crm_error_pages"] = True
    for code in ERROR_CODES:
        app.register_error_handler(code, handle_error)
    app.after_request(translate_api_errors)
    app.before_request(read_api_body_within_limit)


__all__ = ["install", "handle_error", "PAGES", "InternalServerError"]
