"""Template filters: the Russian formats of money, dates and counted words."""
from app.formatting import format_date, format_datetime, format_money
from process.catalog import plural


def _times(n) -> str:
    """3 -> «3 раза»: a count in a sentence agrees with its number."""
    return f"{n} {plural(int(n), ('раз', 'раза', 'раз'))}"


def install(app) -> None:
    app.jinja_env.filters["money"] = format_money
    app.jinja_env.filters["dt"] = format_datetime
    app.jinja_env.filters["d"] = format_date
    app.jinja_env.filters["times"] = _times
