"""Queue names and the Redis connection. Notifications, e-mail and documents have queues of
their own, so a slow SMTP server never delays a reminder."""
from __future__ import annotations

from flask import current_app
from redis import Redis

SCHEDULE = "crm-schedule"
NOTIFICATIONS = "crm-notifications"
EMAIL = "crm-email"
DOCUMENTS = "crm-documents"
QUEUE_NAMES = (SCHEDULE, NOTIFICATIONS, EMAIL, DOCUMENTS)

# Which queue delivers which outbox kind (SMS leaves the building like e-mail does).
OUTBOX_QUEUE = {"notification": NOTIFICATIONS, "email": EMAIL, "sms": EMAIL,
                "document": DOCUMENTS}

_connections: dict[str, object] = {}


def redis_url(app=None) -> str:
    return ((app or current_app).config.get("REDIS_URL") or "").strip()


def redis_connection(app=None):
    """One client per URL and process (a connection pool underneath)."""
    url = redis_url(app)
    if not url:
        return None
    if url not in _connections:
        _connections[url] = Redis.from_url(url, socket_timeout=10, socket_connect_timeout=5)
    return _connections[url]
