"""«Настройки → Реквизиты компании»: the admin edits our requisites; wrong check digits come
back as field messages with the input kept; logo, signature and stamp are PNG or JPEG by
content, at most 1 MB, shown and removable; nobody else opens the screen."""
from __future__ import annotations

import io

from PIL import Image
from sqlalchemy import select

from app.extensions import db
from models.document import CompanyProfile
from models.requisites import make_correspondent_account, make_settlement_account

BIK = "044525225"
URL = "/settings/company/"


def _png(size=(8, 8)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (200, 10, 10)).save(out, "PNG")
    return out.getvalue()


def _jpeg() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (8, 8), (10, 10, 200)).save(out, "JPEG")
    return out.getvalue()


def _form(**kw) -> dict:
    data = {"name": "ООО «Эко-Упаковка»", "full_name": "", "inn": "7736207543",
            "kpp": "773601001", "ogrn": "1027700229193", "address": "г. Москва",
            "city": "Москва", "phone": "+7 495 000-00-00", "email": "info@eco.ru",
            "director": "Петров П. П.", "director_title": "Генеральный директор",
            "accountant": "Сидорова А. И.", "bank_name": "ПАО СБЕРБАНК", "bik": BIK,
            "corr_account": make_correspondent_account("3010181040000000022", BIK),
            "account": make_settlement_account("4070281093800000000", BIK),
            "vat_rate": "20"}
    data.update(kw)
    return data


def _profile() -> CompanyProfile:
    db.session.expire_all()
    return db.session.scalars(select(CompanyProfile)).first()


def test_the_admin_saves_the_requisites_and_images(client, document_templates):
    page = client.get(URL).get_data(as_text=True)
    assert "Реквизиты компании" in page and "Расчётный счёт" in page
    resp = client.post(URL, data={**_form(), "logo": (io.BytesIO(_png()), "logo.png"),
                                  "stamp": (io.BytesIO(_jpeg()), "stamp.jpg")},
                       content_type="multipart/form-data")
    assert resp.status_code == 302, resp.get_data(as_text=True)
    profile = _profile()
    assert (profile.name, profile.inn, profile.vat_rate) == ("ООО «Эко-Упаковка»",
                                                             "7736207543", "20")
    assert (profile.logo_type, profile.stamp_type, profile.signature) == (
        "image/png", "image/jpeg", None)
    image = client.get(f"{URL}image/logo")
    assert image.status_code == 200 and image.data == _png()
    assert image.headers["Content-Type"] == "image/png"
    assert 'src="/settings/company/image/logo"' in client.get(URL).get_data(as_text=True)

    assert client.post(f"{URL}image/logo/remove").status_code == 302
    assert _profile().logo is None and client.get(f"{URL}image/logo").status_code == 404


def test_wrong_check_digits_keep_the_input_and_change_nothing(client, document_templates):
    client.post(URL, data=_form(), content_type="multipart/form-data")
    bad = _form(name="Новое имя", inn="7736207544", kpp="77360", bik="04452522",
                account="40702810938000000001", email="not-an-email", vat_rate="15")
    resp = client.post(URL, data=bad, content_type="multipart/form-data")
    assert resp.status_code == 422
    html = resp.get_data(as_text=True)
    for message in ("ИНН указан с ошибкой: не сходится контрольное число",
                    "КПП должен состоять из 9 знаков", "БИК должен состоять из 9 цифр",
                    "Для проверки расчётного счёта укажите верный БИК",
                    "Неверный адрес электронной почты", "Выберите ставку НДС из списка"):
        assert message in html, message
    assert 'value="Новое имя"' in html and 'value="7736207544"' in html
    profile = _profile()
    assert (profile.name, profile.inn, profile.vat_rate) == ("ООО «Эко-Упаковка»",
                                                             "7736207543", "20")
    # Digits to str.isdigit() that are not 0-9 (superscripts, Arabic-Indic): a message,
    # never a 500 from int().
    exotic = _form(inn="²" * 10, ogrn="²" * 13, bik="٠٤٤٥٢٥٢٢٥", kpp="٧٧٣٦٠١٠٠١")
    resp = client.post(URL, data=exotic, content_type="multipart/form-data")
    html = resp.get_data(as_text=True)
    assert resp.status_code == 422
    for message in ("ИНН должен состоять из 10 цифр", "ОГРН должен состоять из 13 цифр",
                    "БИК должен состоять из 9 цифр", "КПП должен состоять из 9 знаков"):
        assert message in html, message
    assert _profile().inn == "7736207543"
    wrong_account = _form(account="40702810938000000000")
    html = client.post(URL, data=wrong_account,
                       content_type="multipart/form-data").get_data(as_text=True)
    assert "Расчётный счёт не соответствует БИК" in html


def test_images_are_judged_by_content_and_size(client, document_templates):
    fake = b"GIF89a" + b"\x00" * 100
    for data, name, message in (
            (fake, "logo.png", "Загрузите изображение PNG или JPEG"),
            (b"%PDF-1.4 not an image", "logo.jpg", "Загрузите изображение PNG или JPEG"),
            (_png() + b"\x00" * (1024 * 1024), "big.png", "Изображение больше 1 МБ")):
        resp = client.post(URL, data={**_form(name="Другое"),
                                      "signature": (io.BytesIO(data), name)},
                           content_type="multipart/form-data")
        assert resp.status_code == 422 and message in resp.get_data(as_text=True), name
        assert _profile().signature is None and _profile().name != "Другое"


def test_only_the_admin_opens_the_requisites(login, document_templates):
    for username in ("manager", "director", "accountant"):
        user = login(username)
        assert user.get(URL).status_code in (302, 403), username
        assert user.post(URL, data=_form(name="Взлом")).status_code in (302, 403)
    assert _profile().name != "Взлом"
