"""How the scheduler hands work over: to RQ queues, or (embedded mode, no Redis) by calling
the same job function in this process.

What the RQ runner tells the scheduler about jobs Redis no longer holds:
- The epoch key holds the moment a pass noticed that Redis had lost its jobs (flushed or
  restarted). It is only ever created where it is missing (SET NX), never overwritten, so a
  flush landing at any point of a pass leaves it missing for the next pass to notice. Rows
  marked "enqueued" before that moment are handed over again, over as many passes as that
  takes (a pass claims at most SCHEDULER_MAX_CLAIM rows).
- A job that RQ shows as started by a worker whose key is gone (the worker's heartbeat,
  jobs/worker.py, keeps it for WORKER_DEAD_SECONDS) or by an earlier worker of the same name
  is abandoned: its rows are handed over again and RQ forgets the job."""
from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass

from flask import current_app
from rq import Queue, Worker
from rq.exceptions import NoSuchJobError
from rq.executions import WORKER_EXECUTIONS_KEY_TEMPLATE, Execution, ExecutionRegistry
from rq.job import Job
from rq.registry import StartedJobRegistry
from rq.utils import utcparse

from jobs.queues import QUEUE_NAMES, redis_connection
from models.base import utcnow

log = logging.getLogger("crm.scheduler")

EPOCH_KEY = "crm:scheduler:epoch"


@dataclass(frozen=True)
class Batch:
    """One job: a job function and the ids of the rows it runs."""
    queue: str
    func: Callable
    ids: list[int]
    at_front: bool = False


@dataclass(frozen=True)
class Abandoned:
    """A job RQ shows as started by a worker that is gone."""
    queue: str
    job_id: str
    execution_id: str
    worker: str
    func_name: str | None
    ids: tuple[int, ...]

    def forget(self, pipe) -> None:
        """What RQ keeps of the started job, dropped: the rows run in a new job, and the dead
        worker's job is neither "started" nor "failed" on the screens."""
        member = f"{self.job_id}:{self.execution_id}"
        pipe.zrem(StartedJobRegistry.key_template.format(self.queue), member)
        pipe.delete(Execution.from_composite_key(member, connection=None).key,
                    ExecutionRegistry.key_template.format(self.job_id),
                    Job.key_for(self.job_id))
        pipe.srem(WORKER_EXECUTIONS_KEY_TEMPLATE.format(self.worker), member)


class InlineRunner:
    """Embedded mode: the job runs now, in this thread, after the claim is committed."""

    name = "inline"
    inline = True

    def lost_before(self) -> dt.datetime | None:
        return None

    def abandoned(self) -> list[Abandoned]:
        return []

    def run(self, batch: Batch) -> None:
        batch.func(batch.ids)


class RQRunner:
    name = "rq"
    inline = False

    def __init__(self, connection, job_timeout: int = 90):
        self.connection = connection
        self.job_timeout = job_timeout
        self._queues = {}

    def _queue(self, name: str):
        if name not in self._queues:
            self._queues[name] = Queue(name, connection=self.connection)
        return self._queues[name]

    def lost_before(self) -> dt.datetime | None:
        """Rows enqueued before the returned moment had their jobs in a Redis that lost
        them. A missing key is a loss noticed now (the first start counts as one)."""
        value = self.connection.get(EPOCH_KEY)
        if value is None:
            # Read after the key was found missing: later than the flush, so every row
            # whose job the flush took was enqueued before it.
            noticed = utcnow()
            if self.connection.set(EPOCH_KEY, noticed.isoformat(), nx=True):
                log.warning("Redis holds no jobs of this scheduler (flushed, restarted or "
                            "new): rows enqueued before %s UTC are handed over again",
                            noticed.isoformat(sep=" ", timespec="seconds"))
                return noticed
            value = self.connection.get(EPOCH_KEY)  # another scheduler set it just now
            if value is None:
                return noticed  # and a flush took it again: the next pass sets it
        try:
            return dt.datetime.fromisoformat(value.decode())
        except ValueError:
            # An epoch of another format (the key as older versions wrote it): a loss
            # noticed long ago that needs nothing handed over now.
            return None

    def abandoned(self) -> list[Abandoned]:
        found = []
        for name in QUEUE_NAMES:
            registry = StartedJobRegistry(name, connection=self.connection)
            for job_id, execution_id in registry.get_job_and_execution_ids(cleanup=False):
                worker = self._dead_worker(job_id, execution_id)
                if worker is not None:
                    found.append(self._describe(name, job_id, execution_id, worker))
        return found

    def _dead_worker(self, job_id: str, execution_id: str) -> str | None:
        """The name of the worker that started this execution if it is gone, else None.
        Gone: its key expired (no heartbeat for WORKER_DEAD_SECONDS), or the key is that of
        a worker born after the execution started (restarted under the same name)."""
        execution = self.connection.hgetall(
            Execution(execution_id, job_id, connection=self.connection).key)
        if not execution:
            return ""  # RQ's own time to live for it ran out: its worker is long gone
        worker = (execution.get(b"worker_name") or b"").decode()
        key = Worker.redis_worker_namespace_prefix + worker
        birth = self.connection.hget(key, "birth")
        if birth is None:
            # No key: dead. A key without a birth is what a heartbeat wrote after a flush:
            # that worker is alive and registers itself again.
            return None if self.connection.exists(key) else worker
        started = float(execution.get(b"created_at") or 0)
        return worker if utcparse(birth.decode()).timestamp() > started else None

    def _describe(self, queue: str, job_id: str, execution_id: str,
                  worker: str) -> Abandoned:
        func_name, ids = None, ()
        try:
            job = Job.fetch(job_id, connection=self.connection)
            func_name, ids = job.func_name, tuple(int(i) for i in job.args[0])
        except (NoSuchJobError, IndexError, TypeError, ValueError) as exc:
            log.warning("job %s of a stopped worker cannot be read: %s", job_id, exc)
        log.warning("worker %s stopped answering during job %s: %s rows handed over again",
                    worker or "?", job_id, len(ids))
        return Abandoned(queue, job_id, execution_id, worker, func_name, ids)

    def hand_over(self, batches: list[Batch], forget: list[Abandoned] = ()) -> None:
        """Every job of the pass in one MULTI/EXEC: Redis takes all of them or none."""
        if not batches and not forget:
            return
        with self.connection.pipeline() as pipe:
            for batch in batches:
                # The database keeps the outcome; RQ keeps a failed job a day for the screen.
                self._queue(batch.queue).enqueue_many([Queue.prepare_data(
                    batch.func, (list(batch.ids),), timeout=self.job_timeout, result_ttl=0,
                    failure_ttl=86400, at_front=batch.at_front)], pipeline=pipe)
            for job in forget:
                job.forget(pipe)
            pipe.execute()


def get_runner(app=None):
    app = app or current_app
    connection = redis_connection(app)
    if connection is None:
        return InlineRunner()
    return RQRunner(connection, int(app.config.get("JOB_TIMEOUT", 90)))
