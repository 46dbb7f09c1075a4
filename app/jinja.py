"""Template filters: the Russian formats of money and dates."""
from app.formatting import format_date, format_datetime, format_money


def install(app) -> None:
    app.jinja_env.filters["money"] = format_money
    app.jinja_env.filters["dt"] = format_datetime
    app.jinja_env.filters["d"] = format_date
