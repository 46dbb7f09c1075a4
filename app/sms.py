"""SMS of the outbox: the provider interface, the logging provider and the delivery of one
OutboxMessage row.

No gateway ships with the CRM: by default (`SMS_PROVIDER=log`) a message is only written to
the "crm.sms" log and nothing leaves the machine; the outbox row stays the visible record.
A real gateway is a class named in SMS_PROVIDER as "package.module:ClassName", built with
the app config (its credentials live there) and sending one message per `send` call."""
from __future__ import annotations

import importlib
import logging
import re

from flask import current_app

from errors import DeliveryError, JobError, PermanentJobError

log = logging.getLogger("crm.sms")
_SEPARATORS = re.compile(r"[\s\-().]")


class SmsProvider:
    """A gateway: `send` delivers one text to one phone in E.164 form ("+79991234567").
    It raises DeliveryError when a retry may help and PermanentJobError when not; any
    other exception is treated as a retryable failure of the gateway."""

    name = "base"

    def __init__(self, config=None):
        self.config = config or {}

    def send(self, phone: str, text: str) -> None:  # pragma: no cover - interface
        raise NotImplementedError


class LoggingSmsProvider(SmsProvider):
    """The default: writes the message to the log instead of a gateway."""

    name = "log"

    def send(self, phone: str, text: str) -> None:
        log.info("SMS to %s: %s", phone, text)


def _unknown(value: str) -> DeliveryError:
    # Retryable: once the admin corrects SMS_PROVIDER, the waiting messages go out.
    return DeliveryError(f"Неизвестный SMS-провайдер «{value}» (настройка SMS_PROVIDER): "
                         "укажите «log» или путь к классу шлюза в виде «пакет.модуль:Класс»")


def get_sms_provider(config) -> SmsProvider:
    """The provider SMS_PROVIDER names: "log" (default) or "package.module:ClassName"."""
    value = str(config.get("SMS_PROVIDER") or "log").strip()
    if value == "log":
        return LoggingSmsProvider(config)
    module_name, colon, class_name = value.partition(":")
    if not colon or not module_name or not class_name:
        raise _unknown(value)
    try:
        module = importlib.import_module(module_name)
    except ImportError:
        raise DeliveryError(f"Не удалось загрузить SMS-провайдер «{value}»: модуль "
                            f"«{module_name}» не найден (настройка SMS_PROVIDER)") from None
    cls = getattr(module, class_name, None)
    if not isinstance(cls, type) or not callable(getattr(cls, "send", None)):
        raise DeliveryError(f"SMS-провайдер «{value}» не найден: в модуле «{module_name}» нет "
                            f"класса «{class_name}» с методом send (настройка SMS_PROVIDER)")
    return cls(config)


def normalize_phone(raw) -> str:
    """"8 (999) 123-45-67", "+7 999 123 45 67", "79991234567" -> "+79991234567"; other
    countries in international form ("+375 29 ..."). PermanentJobError otherwise: a wrong
    number stays wrong on every retry."""
    text = str(raw or "").strip()
    digits = _SEPARATORS.sub("", text)
    if digits.startswith("+"):
        number = digits[1:]
    elif len(digits) == 11 and digits[0] in "78":
        number = "7" + digits[1:]
    elif len(digits) == 10 and digits.startswith("9"):
        number = "7" + digits  # a Russian mobile number written without the country code
    else:
        number = ""
    if not number.isdigit() or not 10 <= len(number) <= 15 \
            or (number.startswith("7") and len(number) != 11):
        raise PermanentJobError(f"Неверный номер телефона «{text}»: укажите номер в формате "
                                "+7 999 123-45-67")
    return "+" + number


def deliver_sms(message, provider: SmsProvider | None = None) -> str:
    """Sends the row's text to each of its phone numbers through `provider` (default: the
    configured one); returns the provider's name for the row's `delivered_via`. Every
    number is checked before the first is sent to, so a bad one leaves nothing half-sent."""
    raw = message.recipients or []
    if isinstance(raw, str):
        raw = [raw]
    phones: list[str] = []
    for item in raw:
        phone = normalize_phone(item)
        if phone not in phones:
            phones.append(phone)
    if not phones:
        raise PermanentJobError("У SMS нет получателя: не указан номер телефона")
    text = (message.body or "").strip()
    if not text:
        raise PermanentJobError("Текст SMS пустой: отправлять нечего")
    provider = provider or get_sms_provider(current_app.config)
    for phone in phones:
        try:
            provider.send(phone, text)
        except JobError:
            raise
        except Exception as exc:  # a third-party gateway may raise anything
            raise DeliveryError(f"SMS-провайдер «{provider.name}» не отправил сообщение на "
                                f"{phone}: {exc or type(exc).__name__}") from None
    return provider.name
