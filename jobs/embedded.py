"""Embedded mode (no REDIS_URL): a daemon thread of the web process runs the scheduler with
the in-process runner, so reminders arrive on a fresh machine with nothing but SQLite.
A commit that wrote schedule or outbox rows wakes it at once instead of at the next tick."""
from __future__ import annotations

import logging
import threading

from sqlalchemy import event
from sqlalchemy.orm import Session

from jobs.queues import redis_url
from jobs.runner import InlineRunner
from jobs.scheduler import run_forever
from models.outbox import OutboxMessage
from models.schedule import ScheduledAction

log = logging.getLogger("crm.scheduler")
_wake = threading.Event()


def _note_new_work(session: Session, _context) -> None:
    if any(isinstance(o, (OutboxMessage, ScheduledAction)) for o in session.new):
        session.info["crm_new_work"] = True


def _wake_after_commit(session: Session) -> None:
    if session.info.pop("crm_new_work", False):
        _wake.set()


def install_wakeup() -> None:
    """Called once by app.listeners.install()."""
    event.listen(Session, "after_flush", _note_new_work)
    event.listen(Session, "after_commit", _wake_after_commit)


def start(app, stop: threading.Event | None = None) -> threading.Thread | None:
    """Starts the in-process scheduler unless Redis is configured (then workers run jobs).
    Setting `stop` ends the loop (tests; a daemon thread otherwise ends with the process)."""
    if redis_url(app):
        return None

    def loop():
        with app.app_context():
            run_forever(float(app.config.get("SCHEDULER_INTERVAL", 1)), stop=stop,
                        wake=_wake, runner=InlineRunner())

    thread = threading.Thread(target=loop, name="crm-embedded-scheduler", daemon=True)
    thread.start()
    log.info("embedded scheduler started (no REDIS_URL)")
    return thread
