"""SMS of the outbox: the default provider only logs (nothing leaves the machine), a gateway
is named as "package.module:ClassName", a wrong setting or phone number gives a Russian
error, and every number is checked before anything is sent."""
from __future__ import annotations

import logging
import sys
import types

import pytest

from errors import DeliveryError, PermanentJobError
from models.outbox import OutboxMessage


def _sms(*phones, body="Ваш заказ отправлен. Менеджер: +7 495 000-00-01"):
    return OutboxMessage(id=7, kind="sms", recipients=list(phones), body=body)


def test_logging_provider_is_the_default_and_logs_the_message(app, caplog):
    from app.sms import LoggingSmsProvider, get_sms_provider

    provider = get_sms_provider({})
    assert isinstance(provider, LoggingSmsProvider) and provider.name == "log"
    assert isinstance(get_sms_provider({"SMS_PROVIDER": "log"}), LoggingSmsProvider)
    with caplog.at_level(logging.INFO, logger="crm.sms"):
        provider.send("+79991234567", "Ваш заказ отправлен")
    [record] = [r for r in caplog.records if r.name == "crm.sms"]
    assert record.getMessage() == "SMS to +79991234567: Ваш заказ отправлен"


def test_deliver_sms_normalises_numbers_and_logs_each(app, caplog, monkeypatch):
    from app.sms import deliver_sms

    monkeypatch.setitem(app.config, "SMS_PROVIDER", "log")
    with caplog.at_level(logging.INFO, logger="crm.sms"):
        via = deliver_sms(_sms("8 (999) 123-45-67", "+7 999 123 45 67", "+375 29 123-45-67"))
    assert via == "log"
    assert [r.getMessage() for r in caplog.records if r.name == "crm.sms"] == [
        "SMS to +79991234567: Ваш заказ отправлен. Менеджер: +7 495 000-00-01",
        "SMS to +375291234567: Ваш заказ отправлен. Менеджер: +7 495 000-00-01"]


@pytest.mark.parametrize("value", ["twilio", "smsc.ru", ":Gateway", "gateway:"])
def test_unknown_provider_is_refused_in_russian(value):
    from app.sms import get_sms_provider

    with pytest.raises(DeliveryError) as caught:
        get_sms_provider({"SMS_PROVIDER": value})
    assert caught.value.message == (
        f"Неизвестный SMS-провайдер «{value}» (настройка SMS_PROVIDER): укажите «log» или "
        "путь к классу шлюза в виде «пакет.модуль:Класс»")


def test_missing_gateway_module_or_class_is_refused_in_russian():
    from app.sms import get_sms_provider

    with pytest.raises(DeliveryError) as caught:
        get_sms_provider({"SMS_PROVIDER": "no_such_gateway_pkg.sms:Gateway"})
    assert caught.value.message == (
        "Не удалось загрузить SMS-провайдер «no_such_gateway_pkg.sms:Gateway»: модуль "
        "«no_such_gateway_pkg.sms» не найден (настройка SMS_PROVIDER)")
    with pytest.raises(DeliveryError) as caught:
        get_sms_provider({"SMS_PROVIDER": "app.sms:NoSuchGateway"})
    assert caught.value.message == (
        "SMS-провайдер «app.sms:NoSuchGateway» не найден: в модуле «app.sms» нет класса "
        "«NoSuchGateway» с методом send (настройка SMS_PROVIDER)")


@pytest.fixture()
def gateway_module(monkeypatch):
    """A gateway as a real deployment would name it: a class in an importable module."""
    module = types.ModuleType("crm_test_gateway")

    class Gateway:
        name = "test_gateway"
        sent: list = []

        def __init__(self, config):
            self.login = config.get("SMS_LOGIN")

        def send(self, phone, text):
            if phone.endswith("0000"):
                raise RuntimeError("gateway timeout")
            Gateway.sent.append((self.login, phone, text))

    module.Gateway = Gateway
    monkeypatch.setitem(sys.modules, "crm_test_gateway", module)
    return Gateway


def test_configured_gateway_class_gets_the_config_and_each_number(app, monkeypatch,
                                                                  gateway_module):
    from app.sms import deliver_sms

    monkeypatch.setitem(app.config, "SMS_PROVIDER", "crm_test_gateway:Gateway")
    monkeypatch.setitem(app.config, "SMS_LOGIN", "eco")
    assert deliver_sms(_sms("+79991234567", body="Код 1234")) == "test_gateway"
    assert gateway_module.sent == [("eco", "+79991234567", "Код 1234")]
    with pytest.raises(DeliveryError) as caught:
        deliver_sms(_sms("+79990000000"))
    assert caught.value.message == ("SMS-провайдер «test_gateway» не отправил сообщение на "
                                    "+79990000000: gateway timeout")


@pytest.mark.parametrize("phone", ["12345", "+7 999 123", "телефон", "8 800 СЛОН", ""])
def test_bad_phone_is_a_permanent_error_and_nothing_is_sent(app, caplog, phone):
    from app.sms import deliver_sms

    with caplog.at_level(logging.INFO, logger="crm.sms"), \
            pytest.raises(PermanentJobError) as caught:
        deliver_sms(_sms("+79991234567", phone))
    assert caught.value.message == (f"Неверный номер телефона «{phone}»: укажите номер в "
                                    "формате +7 999 123-45-67")
    assert [r for r in caplog.records if r.name == "crm.sms"] == []


def test_no_phone_or_no_text_is_a_permanent_error(app):
    from app.sms import deliver_sms

    with pytest.raises(PermanentJobError) as caught:
        deliver_sms(_sms())
    assert caught.value.message == "У SMS нет получателя: не указан номер телефона"
    with pytest.raises(PermanentJobError) as caught:
        deliver_sms(_sms("+79991234567", body="  "))
    assert caught.value.message == "Текст SMS пустой: отправлять нечего"
