"""Typed errors of the product. Each carries a Russian message for the user and the HTTP
status an API answers with; views and the API turn them into a flash or a JSON body."""


class CrmError(Exception):
    http_status = 400

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


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


class DocumentRefused(CrmError):
    """A document cannot be made for this record: unknown kind, no such template, still
    being rendered."""

    http_status = 422


class SeedError(CrmError):
    pass


class DefinitionError(CrmError):
    """A process definition is refused: one sentence naming the file, the path and the
    problem. Nothing of it is loaded."""

    http_status = 422


class TransitionNotAllowed(CrmError):
    """The definition does not allow this move (or the record is not in that process)."""

    http_status = 409


class AlreadyDone(CrmError):
    """The same request (a click with its key) came again: what it asked is already done."""

    http_status = 409
    default_message = "Уже создано по этому нажатию: повторное нажатие ничего не меняет"

    def __init__(self, message: str = default_message):
        super().__init__(message)


class MissingFields(FieldErrors):
    """The target stage requires fields that are empty; each is named by its Russian label."""

    def __init__(self, stage_name: str, missing: dict[str, str],
                 since: dict[str, str] | None = None):
        """`since`: the stage a field is first required at, when the move jumps over it."""
        self.stage_name = stage_name
        since = since or {}

        def why(key: str) -> str:
            first = since.get(key, stage_name)
            if first == stage_name:
                return f"оно обязательно на этапе «{stage_name}»"
            return f"оно обязательно, начиная с этапа «{first}»"

        super().__init__({key: f"Заполните поле «{label}»: {why(key)}"
                          for key, label in missing.items()})
        names = ", ".join(f"«{label}»" for label in missing.values())
        what = "не заполнено поле" if len(missing) == 1 else "не заполнены поля"
        self.message = f"Нельзя перейти на этап «{stage_name}»: {what} {names}"


# --- jobs: delivery and scheduled work (raised inside workers, shown on the admin screens) --
class JobError(CrmError):
    """A scheduled action or an outbox message could not be carried out this time."""


class DeliveryError(JobError):
    """The provider (SMTP server, SMS gateway) refused or did not answer: worth retrying."""


class PermanentJobError(JobError):
    """Retrying cannot help (no recipient address, the record is gone): failed at once."""
