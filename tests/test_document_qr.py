"""The payment QR (ГОСТ Р 56042-2014): payload, PNG decoded back, and the QR inside the
rendered invoice PDF decoded back."""
import io
from decimal import Decimal

import pypdf
import pytest
import zxingcpp
from PIL import Image

from documents.qr import payment_payload, payment_qr_png
from documents.render import render_pdf, shipped_template
from documents.samples import sample_context

BANK = dict(name="ООО «Ромашка»", personal_acc="40702810900000000001",
            bank_name="ПАО Сбербанк", bic="044525225", corresp_acc="30101810400000000225")


def _decode(image: Image.Image) -> list[str]:
    return [r.text for r in zxingcpp.read_barcodes(image)
            if r.format == zxingcpp.BarcodeFormat.QRCode]


def test_payload_follows_the_standard():
    payload = payment_payload(**BANK, payee_inn="7701234567", kpp="770101001",
                              amount=Decimal("150000.50"), purpose="Оплата | по счёту № 5")
    fields = payload.split("|")
    assert fields[0] == "ST00012"
    assert fields[1:6] == ["Name=ООО «Ромашка»", "PersonalAcc=40702810900000000001",
                           "BankName=ПАО Сбербанк", "BIC=044525225",
                           "CorrespAcc=30101810400000000225"]
    assert "Sum=15000050" in fields and "PayeeINN=7701234567" in fields
    assert "Purpose=Оплата по счёту № 5" in fields  # the '|' in a value is gone


def test_mandatory_fields_are_required():
    with pytest.raises(ValueError, match="BIC"):
        payment_payload(**{**BANK, "bic": " "})


def test_png_decodes_back_to_the_payload():
    payload = payment_payload(**BANK, amount=Decimal("1"), purpose="Тест")
    assert _decode(Image.open(io.BytesIO(payment_qr_png(payload)))) == [payload]


def test_qr_inside_the_invoice_pdf_decodes():
    context = sample_context("invoice")
    data = render_pdf(shipped_template("invoice"), context)
    found = []
    for image in pypdf.PdfReader(io.BytesIO(data)).pages[0].images:
        found += _decode(image.image.convert("L"))
    assert len(found) == 1
    payload = found[0]
    assert payload.startswith("ST00012|Name=Общество с ограниченной ответственностью")
    assert f"Sum={int(context['totals']['total'] * 100)}" in payload.split("|")
    assert "PersonalAcc=40702810938000123456" in payload
