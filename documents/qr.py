"""PROVISIONAL (replaced by the docs-render branch)."""


def payment_payload(*, name, account, bank_name, bik, corr_account, inn, kpp, amount, purpose):
    return (f"ST00012|Name={name}|PersonalAcc={account}|BankName={bank_name}|BIC={bik}"
            f"|CorrespAcc={corr_account}|PayeeINN={inn}|KPP={kpp}|Sum={int(amount * 100)}"
            f"|Purpose={purpose}")


def payment_qr_png(payload: str) -> bytes:
    return b""
