"""Typed errors of the product. Each carries a Russian message for the user and the HTTP
status an API answers with; views and the API turn them into a flash or a JSON body."""


class CrmError(Exception):
    http_status = 400

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class FieldErrors(CrmError):
    """One or more fields are wrong; `errors` maps a field name to its Russian message."""

    http_status = 422

    def __init__(self, errors: dict[str, str]):
        self.errors = dict(errors)
        super().__init__("; ".join(self.errors.values()))


class StaleRecord(CrmError):
    http_status = 409

    def __init__(self, message: str = "Запись изменена другим пользователем. "
                 "Откройте её заново и повторите изменения."):
        super().__init__(message)


class AccessDenied(CrmError):
    http_status = 403

    def __init__(self, message: str = "Недостаточно прав для этого действия."):
        super().__init__(message)


class UploadRefused(CrmError):
    http_status = 422


class SeedError(CrmError):
    pass
