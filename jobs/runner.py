"""How the scheduler hands work over: to RQ queues, or (embedded mode, no Redis) by calling
the same job function in this process."""
from __future__ import annotations

from flask import current_app
from rq import Queue

from jobs.queues import redis_connection

# Present while the jobs enqueued under it can still be in Redis: gone means Redis was
# flushed or restarted, and rows marked "enqueued" must be handed over again.
EPOCH_KEY = "crm:scheduler:epoch"


class InlineRunner:
    """Embedded mode: the job runs now, in this thread."""

    name = "inline"

    def enqueue(self, queue: str, func, ids: list[int]) -> None:
        func(ids)

    def lost_jobs(self) -> bool:
        return False

    def mark_epoch(self) -> None:
        pass


class RQRunner:
    name = "rq"

    def __init__(self, connection, job_timeout: int = 90):
        self.connection = connection
        self.job_timeout = job_timeout
        self._queues = {}

    def _queue(self, name: str):
        if name not in self._queues:
            self._queues[name] = Queue(name, connection=self.connection)
        return self._queues[name]

    def enqueue(self, queue: str, func, ids: list[int]) -> None:
        # The database keeps the outcome; RQ keeps a failed job a day for the admin screen.
        self._queue(queue).enqueue(func, list(ids), job_timeout=self.job_timeout,
                                   result_ttl=0, failure_ttl=86400)

    def lost_jobs(self) -> bool:
        return not self.connection.exists(EPOCH_KEY)

    def mark_epoch(self) -> None:
        self.connection.set(EPOCH_KEY, "1")


def get_runner(app=None):
    app = app or current_app
    connection = redis_connection(app)
    if connection is None:
        return InlineRunner()
    return RQRunner(connection, int(app.config.get("JOB_TIMEOUT", 90)))
