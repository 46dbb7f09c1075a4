"""Russian error pages and Russian API error bodies.

A screen error is a page in the panel's layout with a plain sentence and a way back, never a
traceback. A path under /api/ answers JSON {"message": "..."} in Russian; the English messages
Flask-AppBuilder, marshmallow and flask-jwt-extended put in API error bodies are translated
on the way out, so a client sees one language whichever layer refused the request."""
from __future__ import annotations

import json
import logging
import math
import re
from contextlib import contextmanager

import prison
from flask import abort, current_app, jsonify, render_template, request
from flask_appbuilder.exceptions import DatabaseException
from markupsafe import escape
from sqlalchemy.exc import DataError, IntegrityError, OperationalError, SQLAlchemyError
from sqlalchemy.orm.exc import StaleDataError
from werkzeug.exceptions import HTTPException, InternalServerError

from app.extensions import db
from errors import CrmError, StaleRecord

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
    "Special numeric values (nan or infinity) are not permitted.":
        "Ожидается число (NaN и бесконечность не допускаются)",
    "Not a valid UUID.": "Неверный идентификатор",
    "Not a valid time.": "Неверное время",
    "Field may not be blank.": "Поле не может быть пустым",
}
# marshmallow's parameterised messages: (pattern, Russian template).
FIELD_PATTERNS = [
    (re.compile(r"^Longer than maximum length (\d+)\.$"), "Не длиннее {0} символов"),
    (re.compile(r"^Shorter than minimum length (\d+)\.$"), "Не короче {0} символов"),
    (re.compile(r"^Length must be between (\d+) and (\d+)\.$"), "Длина от {0} до {1} символов"),
    (re.compile(r"^Must be greater than or equal to (\S+) and less than or equal to (\S+)\.$"),
     "Значение от {0} до {1}"),
    (re.compile(r"^Must be one of: (.+)\.$"), "Допустимые значения: {0}"),
    # Flask-AppBuilder's list arguments
    (re.compile(r"^Invalid order by column: (.*)$"), "Нельзя сортировать по полю «{0}»"),
    (re.compile(r"^Filter column: (.*) not allowed to filter$"),
     "По полю «{0}» нельзя фильтровать"),
    (re.compile(r"^Filter operation: (.*) not allowed on column: (.*)$"),
     "Операция фильтра «{0}» недоступна для поля «{1}»"),
    # flask-jwt-extended: the token's user is gone or cannot be loaded
    (re.compile(r"^Error loading the user (.*)$"),
     "Пользователь этого токена не найден или отключён: войдите заново"),
]
DB_ERROR_PREFIX = "Database exception occurred"
DB_ERROR_MESSAGE = ("Запись не сохранена: данные противоречат уже сохранённым "
                    "(например, повторяется уникальное значение)")
# FAB's rison decorator: "Not a valid rison schema <jsonschema's first line>".
RISON_SCHEMA_PREFIX = "Not a valid rison schema"
RISON_SCHEMA_MESSAGE = ("Неверный параметр q: недопустимое поле или значение (ожидается "
                        "rison: page, page_size, order_column, order_direction, filters, "
                        "columns, keys)")


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


def handle_database_error(exc):
    """A database error no save helper caught: a refusal a user can cause answers with its
    status and message; anything else is the 500 it is."""
    refusal = database_refusal(exc)
    if refusal is None:
        return handle_error(InternalServerError(original_exception=exc))
    _rollback()
    return _refusal_response(refusal)


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
        if value.startswith(RISON_SCHEMA_PREFIX):
            return RISON_SCHEMA_MESSAGE
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

# --- the database's refusals of a save -----------------------------------------------------
class DatabaseRefusal(CrmError):
    """The database refused a save the checks let through (a value saved by someone else a
    moment ago, a link to a row deleted meanwhile): nothing is saved."""

    http_status = 422


REFERENCED_MESSAGE = ("Запись не удалена: на неё ссылаются другие записи. Сначала удалите "
                      "или переназначьте их")
MISSING_LINK_MESSAGE = "Запись не сохранена: связанная запись не найдена (возможно, её удалили)"
NOT_NULL_MESSAGE = "Запись не сохранена: не заполнено обязательное поле"
DATA_MESSAGE = ("Запись не сохранена: значение не помещается в поле (слишком большое число "
                "или слишком длинный текст)")
BUSY_MESSAGE = ("Запись сейчас сохраняет другой пользователь: изменения не сохранены. "
                "Повторите действие через несколько секунд")
# Two saves of the same records at once: PostgreSQL aborts one of them (a deadlock, a
# serialization failure, a lock not available), SQLite gives up waiting for its lock.
_CONFLICT_STATES = {"40P01", "40001", "55P03"}


class Busy(CrmError):
    http_status = 409


# PostgreSQL's SQLSTATE and SQLite's wording of the same integrity errors.
_INTEGRITY_KINDS = (("23505", "UNIQUE", "unique"), ("23503", "FOREIGN KEY", "reference"),
                    ("23502", "NOT NULL", "not_null"))


def _integrity_kind(exc: IntegrityError) -> str:
    state = getattr(exc.orig, "sqlstate", None)
    text = str(exc.orig)
    for code, sqlite_words, kind in _INTEGRITY_KINDS:
        if state == code or sqlite_words in text:
            return kind
    return "other"


def database_refusal(exc: BaseException) -> CrmError | None:
    """The typed refusal for a database error a user's input or a concurrent save caused;
    None for a fault of the system (a lost connection...), which stays a 500."""
    if isinstance(exc, DatabaseException) and exc.__cause__ is not None:
        exc = exc.__cause__  # FAB's interface wraps the error of its commit
    if isinstance(exc, StaleDataError):
        return StaleRecord()
    if isinstance(exc, IntegrityError):
        kind = _integrity_kind(exc)
        if kind == "reference":
            deleting = (exc.statement or "").lstrip().upper().startswith("DELETE")
            return DatabaseRefusal(REFERENCED_MESSAGE if deleting else MISSING_LINK_MESSAGE)
        if kind == "not_null":
            return DatabaseRefusal(NOT_NULL_MESSAGE)
        return DatabaseRefusal(DB_ERROR_MESSAGE)
    if isinstance(exc, DataError):
        return DatabaseRefusal(DATA_MESSAGE)
    if isinstance(exc, OperationalError):
        if getattr(exc.orig, "sqlstate", None) in _CONFLICT_STATES:
            return StaleRecord()
        if "database is locked" in str(exc.orig):
            return Busy(BUSY_MESSAGE)
    return None


def concurrent_conflict(exc: BaseException) -> bool:
    """The error is another transaction doing the same thing at the same moment (the same
    unique value inserted, a deadlock, a lock waited for too long): worth trying again."""
    refusal = database_refusal(exc)
    return isinstance(refusal, (StaleRecord, Busy)) or (
        isinstance(exc, IntegrityError) and _integrity_kind(exc) == "unique")


@contextmanager
def refusing_database_errors():
    """Around a save: a database error a user can cause is rolled back and raised as its
    typed refusal (a concurrent save of the same record is StaleRecord, 409), which the
    caller answers like any refusal of the checks; anything else propagates."""
    try:
        yield
    except (SQLAlchemyError, DatabaseException) as exc:
        refusal = database_refusal(exc)
        if refusal is None:
            raise
        _rollback()
        raise refusal from exc


def _refusal_response(refusal: CrmError):
    """An uncaught refusal (a database refusal outside any save helper) as its status and
    Russian message, on a page or in JSON."""
    status = refusal.http_status
    if is_api_request():
        return jsonify(message=refusal.message), status
    title = PAGES.get(status, ("Изменения не сохранены", ""))[0]
    if status == 409:
        title = "Изменения не сохранены"
    return render_error_page(status, title, refusal.message), status


# --- input no handler can read ---------------------------------------------------------------
INT64_MAX = 2 ** 63 - 1
# Every primary key is an INTEGER: 32 bits on PostgreSQL.
MAX_ID = 2 ** 31 - 1
BAD_JSON_MESSAGE = "Тело запроса должно быть в формате JSON (не удалось разобрать)"
SURROGATE_MESSAGE = ("Текст содержит недопустимые символы (одиночные суррогаты UTF-16): "
                     "проверьте кодировку")
NUL_MESSAGE = "Текст содержит недопустимый символ NUL (\\u0000): удалите его"
NON_FINITE_MESSAGE = "Числа NaN и Infinity не допускаются: укажите обычное число"
BIG_NUMBER_MESSAGE = "Число слишком большое"
BAD_RISON_MESSAGE = "Неверный параметр q (ожидается rison, например (page:0,page_size:25))"
_SURROGATE = re.compile("[\ud800-\udfff]")


def _may_be_an_id(name: str, value) -> bool:
    """A record number in the path: an int of the route, or the text `pk` of
    Flask-AppBuilder's screens (every primary key is an INTEGER)."""
    if isinstance(value, int):
        return abs(value) <= MAX_ID
    if name == "pk" and isinstance(value, str):
        return bool(re.fullmatch(r"-?[0-9]{1,10}", value)) and abs(int(value)) <= MAX_ID
    return True


def _bad_text(value: str) -> str | None:
    if "\x00" in value:
        return NUL_MESSAGE
    if _SURROGATE.search(value):
        return SURROGATE_MESSAGE
    return None


def _bad_json_value(value) -> str | None:
    """Why a parsed JSON body cannot be stored by any handler, or None. Walks the body
    without recursion, so a deeply nested body is no fault of its own."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            problem = _bad_text(item)
        elif isinstance(item, bool):
            problem = None
        elif isinstance(item, int):
            problem = BIG_NUMBER_MESSAGE if abs(item) > INT64_MAX else None
        elif isinstance(item, float):
            problem = None if math.isfinite(item) else NON_FINITE_MESSAGE
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
            problem = None
        elif isinstance(item, list):
            stack.extend(item)
            problem = None
        else:
            problem = None
        if problem:
            return problem
    return None


def refuse_with(status: int, message: str):
    """A refusal with its own Russian message: JSON under /api/, else the error page."""
    return _refuse(status, message)


def _refuse(status: int, message: str):
    if is_api_request():
        return jsonify(message=message), status
    return render_error_page(status, PAGES[status][0], message), status


def refuse_unreadable_input():
    """before_request: input that would reach the database only to fail there (a number
    beyond 64 bits, a lone surrogate, NUL, NaN, a body that is not JSON, a body over the size
    limit) is refused here with its Russian message, whichever handler it was meant for."""
    for name, value in (request.view_args or {}).items():
        if not _may_be_an_id(name, value):
            abort(404)  # no record has such a number
    limit = current_app.config.get("MAX_CONTENT_LENGTH")
    if limit and request.content_length and request.content_length > limit:
        abort(413)
    if is_api_request() and request.args.get("q"):
        try:
            prison.loads(request.args["q"])
        except prison.decoder.ParserException:
            pass  # Flask-AppBuilder tries it as JSON, then refuses it (translated)
        except Exception:  # noqa: BLE001 - the parser fails in other ways on some input
            return _refuse(400, BAD_RISON_MESSAGE)
    if request.method not in ("POST", "PUT", "PATCH", "DELETE"):
        return None
    if request.is_json:
        body = request.get_json(silent=True)
        if body is None and request.get_data(cache=True).strip():
            return _refuse(400, BAD_JSON_MESSAGE)
        problem = _bad_json_value(body)
        if problem:
            return _refuse(400, problem)
        if request.path.endswith("/security/login") and isinstance(body, dict) \
                and "provider" not in body:
            # Flask-AppBuilder's login reads the provider its schema does not require.
            return jsonify(message={"provider": ["Обязательное поле: db"]}), 400
    elif request.mimetype in ("application/x-www-form-urlencoded", "multipart/form-data"):
        for value in request.form.values():
            problem = _bad_text(value)
            if problem:
                return _refuse(400, problem)
    return None


# --- the OpenAPI document -----------------------------------------------------------------------
_ERROR_BODY = {"application/json": {"schema": {
    "type": "object", "properties": {"message": {}}}}}
_ERROR_ANSWERS = {
    "400": "Неверный запрос: тело или параметры не разобрать",
    "401": "Нужна авторизация",
    "403": "Недостаточно прав",
    "404": "Запись не найдена",
    "405": "Адрес не поддерживает этот метод (например, номер записи — не число)",
    "409": "Запись изменена другим пользователем или действие уже выполнено",
    "413": "Тело запроса больше допустимого",
    "422": "Данные не прошли проверку: сообщение по каждому полю",
}


def _answers_for(method: str, path: str) -> list[str]:
    codes = ["400", "401", "403", "404", "422"]
    if "{" in path:
        codes.append("405")
    if method in ("post", "put", "patch", "delete"):
        codes.append("409")
    if method in ("post", "put", "patch"):
        codes.append("413")
    return codes


def document_error_answers(response):
    """after_request on the OpenAPI document: every operation lists the error answers any
    API of the panel can give (the refusals of views/base.py and of this module), which
    Flask-AppBuilder's docstrings leave out; an operation documented with no answer at all
    gets its 200."""
    if not request.path.endswith("/_openapi") or response.status_code != 200 \
            or not response.is_json:
        return response
    spec = response.get_json()
    for path, operations in (spec.get("paths") or {}).items():
        for method, operation in operations.items():
            if not isinstance(operation, dict):
                continue
            answers = operation.setdefault("responses", {})
            if not any(code.startswith("2") for code in answers):
                answers["200"] = {"description": "Выполнено", "content": _ERROR_BODY}
            for code in _answers_for(method, path):
                answers.setdefault(code, {"description": _ERROR_ANSWERS[code],
                                          "content": _ERROR_BODY})
    response.set_data(json.dumps(spec, ensure_ascii=False))
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
    app.register_error_handler(SQLAlchemyError, handle_database_error)
    app.before_request(refuse_unreadable_input)
    app.after_request(translate_api_errors)
    app.before_request(read_api_body_within_limit)
    app.after_request(document_error_answers)


__all__ = ["install", "handle_error", "PAGES", "InternalServerError"]
