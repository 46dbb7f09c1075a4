"""E-mail of the outbox: one OutboxMessage row as a MIME letter, sent over SMTP.

The jobs (jobs/tasks.py) call `send_email` for each e-mail row after the commit that wrote
it and own the row's status, retries and backoff. Here a failure is only classified:
`DeliveryError` when trying again later may help (the server is down, a 4xx answer),
`PermanentJobError` when it cannot (no recipient, a file gone, a 5xx refusal of the
letter). Both carry a Russian sentence the outbox screen shows as the last error."""
from __future__ import annotations

import datetime as dt
import re
import smtplib
import socket
import ssl
from email.message import EmailMessage
from email.utils import format_datetime, formataddr, parseaddr

from flask import current_app

from app.attachments import path_of
from app.extensions import db
from errors import DeliveryError, PermanentJobError, UploadRefused
from models.attachment import Attachment

DEFAULT_TIMEOUT = 10
# No spaces, commas or brackets around the "@": anything else is for the server to judge.
_ADDRESS = re.compile(r"^[^@\s,;<>()\[\]\"]+@[^@\s,;<>()\[\]\"]+$")


def smtp_configured(config) -> bool:
    """Without SMTP_HOST (the embedded default) letters are held, not sent."""
    return bool((config.get("SMTP_HOST") or "").strip())


def _sender(config) -> tuple[str, str]:
    """(display name, address) of SMTP_FROM, which may be "CRM <crm@example.ru>"."""
    name, address = parseaddr(config.get("SMTP_FROM") or "crm@localhost")
    if not address or "@" not in address:
        raise PermanentJobError(f"Неверный адрес отправителя SMTP_FROM "
                                f"«{config.get('SMTP_FROM')}»: укажите адрес e-mail")
    return name, _ascii_address(address)


def _ascii_address(address: str) -> str:
    """Cyrillic domains (почта@пример.рф) go to the server in their IDNA form; a non-ASCII
    mailbox name would need SMTPUTF8, which many servers lack, so it is refused here."""
    local, _at, domain = address.strip().rpartition("@")
    if not local.isascii():
        raise PermanentJobError(f"Адрес «{address}» нельзя использовать: имя ящика до «@» "
                                "должно быть латиницей")
    try:
        domain = domain.encode("idna").decode("ascii") if not domain.isascii() else domain
    except UnicodeError:
        raise PermanentJobError(f"Неверный адрес e-mail «{address}»") from None
    return f"{local}@{domain.lower()}"


def recipients_of(message) -> list[str]:
    """The message's addresses, checked and without repeats; PermanentJobError if none or
    one is malformed (a retry would send the same wrong address again)."""
    out: list[str] = []
    raw = message.recipients or []
    if isinstance(raw, str):
        raw = [raw]
    for item in raw:
        text = str(item or "").strip()
        # "Иванов <ivan@example.ru>" as well as a bare address.
        address = parseaddr(text)[1].strip() if "<" in text else text
        if not address:
            continue
        if not _ADDRESS.match(address):
            raise PermanentJobError(f"Неверный адрес e-mail «{text}»: письмо не отправлено")
        address = _ascii_address(address)
        if address not in out:
            out.append(address)
    if not out:
        raise PermanentJobError("У письма нет получателя: у клиента не указан адрес e-mail")
    return out


def message_id(message, config=None) -> str:
    """The same id for every attempt of one outbox row: a letter sent again after a crash
    between the SMTP answer and the commit is recognised as a duplicate by mail clients."""
    config = config if config is not None else current_app.config
    _name, address = _sender(config)
    return f"<outbox-{message.id}@{address.rpartition('@')[2]}>"


def _attach_files(letter: EmailMessage, message) -> None:
    for raw_id in message.attachments or []:
        try:
            attachment = db.session.get(Attachment, int(raw_id))
        except (TypeError, ValueError):
            attachment = None
        if attachment is None:
            raise PermanentJobError(f"Вложение № {raw_id} не найдено: файл удалён из "
                                    "записи, письмо не отправлено")
        try:
            data = path_of(attachment).read_bytes()
        except (OSError, UploadRefused):
            raise PermanentJobError(f"Файл вложения «{attachment.filename}» не найден в "
                                    "хранилище: письмо не отправлено") from None
        maintype, _slash, subtype = (attachment.content_type or "").partition("/")
        if not maintype or not subtype:
            maintype, subtype = "application", "octet-stream"
        letter.add_attachment(data, maintype=maintype, subtype=subtype,
                              filename=attachment.filename)


def build_email(message) -> EmailMessage:
    """The letter of an outbox row: From SMTP_FROM, To its recipients, the Russian subject
    and body as UTF-8 text, the record's files attached under their original names."""
    if message.id is None:
        raise PermanentJobError("Сообщение не сохранено в очереди: отправлять нечего")
    config = current_app.config
    name, sender = _sender(config)
    to = recipients_of(message)
    letter = EmailMessage()
    letter["From"] = formataddr((name, sender)) if name else sender
    letter["To"] = ", ".join(to)
    letter["Subject"] = " ".join((message.subject or "").split())
    created = message.created_at or dt.datetime.now(dt.UTC).replace(tzinfo=None)
    letter["Date"] = format_datetime(created.replace(tzinfo=dt.UTC))
    letter["Message-ID"] = message_id(message, config)
    # RFC 3834: vacation responders do not answer a letter the CRM wrote by itself.
    letter["Auto-Submitted"] = "auto-generated"
    # base64, not raw 8-bit UTF-8: a server without 8BITMIME would mangle the Cyrillic.
    letter.set_content(message.body or "", subtype="plain", charset="utf-8", cte="base64")
    _attach_files(letter, message)
    return letter


def _reason(exc: BaseException) -> str:
    """The server's own answer ("550 5.1.1 User unknown") or the network error."""
    if isinstance(exc, smtplib.SMTPResponseException):
        text = exc.smtp_error.decode("utf-8", "replace") if isinstance(
            exc.smtp_error, bytes) else str(exc.smtp_error)
        return f"{exc.smtp_code} {' '.join(text.split())}".strip()
    if isinstance(exc, TimeoutError):
        return "сервер не ответил вовремя"
    if isinstance(exc, ConnectionRefusedError):
        return "соединение отклонено (сервер не запущен или порт закрыт)"
    if isinstance(exc, socket.gaierror):
        return "неизвестное имя сервера"
    if isinstance(exc, ssl.SSLError):
        return f"ошибка TLS: {exc.reason or exc}"
    if isinstance(exc, smtplib.SMTPServerDisconnected):
        return "сервер разорвал соединение"
    return str(exc) or type(exc).__name__


def _refused(refused: dict, delivered_to_others: bool):
    """A per-recipient refusal: 5xx is final for that address, 4xx is worth a retry (the
    others then get it again, and the stable Message-ID lets their clients drop it)."""
    parts, permanent = [], False
    for address, (code, text) in refused.items():
        text = text.decode("utf-8", "replace") if isinstance(text, bytes) else str(text)
        parts.append(f"{address} ({code} {' '.join(text.split())})")
        permanent = permanent or int(code) >= 500
    tail = "; остальным получателям письмо отправлено" if delivered_to_others else ""
    text = f"Сервер отклонил адреса: {', '.join(parts)}{tail}"
    return PermanentJobError(text) if permanent else DeliveryError(text)


def _close(server) -> None:
    """QUIT after the server accepted the letter: a failure here must not turn a delivered
    letter into a failed one (`with SMTP()` would raise on a non-221 answer)."""
    try:
        server.quit()
    except (smtplib.SMTPException, OSError):
        server.close()


def send_email(message) -> None:
    """Sends the row's letter with the SMTP settings of the app (SMTP_HOST, SMTP_PORT,
    SMTP_SSL or SMTP_STARTTLS, SMTP_USER/SMTP_PASSWORD, SMTP_TIMEOUT). The caller checks
    `smtp_configured` first: without a host a letter is held, not failed."""
    config = current_app.config
    letter = build_email(message)  # a letter that cannot be built never opens a connection
    if not smtp_configured(config):
        raise DeliveryError("SMTP-сервер не настроен (SMTP_HOST): письмо не отправлено")
    host = config["SMTP_HOST"].strip()
    port = int(config.get("SMTP_PORT") or (465 if config.get("SMTP_SSL") else 25))
    timeout = float(config.get("SMTP_TIMEOUT") or DEFAULT_TIMEOUT)
    where = f"{host}:{port}"
    _name, sender = _sender(config)
    to = recipients_of(message)
    server = None
    try:
        if config.get("SMTP_SSL"):
            server = smtplib.SMTP_SSL(host, port, timeout=timeout,
                                      context=ssl.create_default_context())
        else:
            server = smtplib.SMTP(host, port, timeout=timeout)
        if config.get("SMTP_STARTTLS") and not config.get("SMTP_SSL"):
            server.starttls(context=ssl.create_default_context())
        if config.get("SMTP_USER"):
            server.login(config["SMTP_USER"], config.get("SMTP_PASSWORD") or "")
        refused = server.send_message(letter, from_addr=sender, to_addrs=to)
    except smtplib.SMTPRecipientsRefused as exc:
        raise _refused(exc.recipients, delivered_to_others=False) from None
    except smtplib.SMTPResponseException as exc:
        # Only a 5xx to the letter itself (too large, rejected as spam) will be refused
        # again. A refusal of our setup (greeting, TLS, login, sender) heals once the admin
        # fixes the settings, so it stays retryable like any 4xx.
        final = isinstance(exc, smtplib.SMTPDataError) and exc.smtp_code >= 500
        error = PermanentJobError if final else DeliveryError
        raise error(f"SMTP-сервер {where} отклонил письмо: {_reason(exc)}") from None
    except (smtplib.SMTPException, OSError) as exc:
        raise DeliveryError(f"Не удалось отправить письмо через SMTP-сервер {where}: "
                            f"{_reason(exc)}") from None
    finally:
        if server is not None:
            _close(server)
    if refused:
        raise _refused(refused, delivered_to_others=True)
