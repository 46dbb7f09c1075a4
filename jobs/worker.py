"""The RQ worker of `flask crm worker`: RQ's SimpleWorker (the jobs run in this process,
where the app is loaded) with a heartbeat that says within seconds that it died.

- A thread refreshes the worker's key every WORKER_HEARTBEAT_SECONDS with a time to live of
  WORKER_DEAD_SECONDS, during jobs too: RQ's SimpleWorker beats only between jobs and gives
  its key the job's timeout plus a minute. A worker killed with kill -9 is gone from Redis
  within seconds, and the scheduler hands its job over (jobs/runner.py: abandoned).
- After a flush the same beat finds the worker missing from RQ's list and lists it again,
  so the screens keep showing it.
- Started under the name of a worker that died on this machine (its process is gone), it
  takes the name over instead of being refused until the dead one's key expires.
- A job whose rows committed while Redis was flushed under it is no failure: RQ's
  bookkeeping at its end finds nothing of the job and would record one."""
from __future__ import annotations

import logging
import math
import os
import threading
from pathlib import Path

from rq import SimpleWorker, worker_registration
from rq.exceptions import InvalidJobOperation
from rq.executions import WORKER_EXECUTIONS_KEY_TEMPLATE
from rq.worker_registration import WORKERS_BY_QUEUE_KEY

log = logging.getLogger("crm.worker")


def process_running(pid: int) -> bool:
    """Whether a process of this id runs on this machine (a zombie counts as dead)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process
    try:
        # Linux: the state follows the parenthesised command name.
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


class CrmWorker(SimpleWorker):
    def __init__(self, queues, *, heartbeat_seconds: float = 1.0, dead_seconds: int = 5,
                 **kwargs):
        super().__init__(queues, **kwargs)
        self.heartbeat_seconds = float(heartbeat_seconds)
        # Whole seconds (a Redis time to live), and room for one late beat.
        self.dead_seconds = max(int(dead_seconds), math.ceil(2 * self.heartbeat_seconds), 1)
        self._stop_beating = threading.Event()
        self._beat_thread: threading.Thread | None = None

    # --- the heartbeat -------------------------------------------------------------------
    def heartbeat(self, timeout: int | None = None, pipeline=None):
        # RQ asks for minutes around a job; the beat thread keeps the key alive meanwhile.
        super().heartbeat(self.dead_seconds, pipeline=pipeline)

    def register_birth(self):
        self._take_over_dead_namesake()
        super().register_birth()
        self.connection.expire(self.key, self.dead_seconds)
        self._stop_beating.clear()
        self._beat_thread = threading.Thread(target=self._beat, name=f"crm-heartbeat-{self.name}",
                                             daemon=True)
        self._beat_thread.start()

    def register_death(self):
        self._stop_beating.set()
        if self._beat_thread is not None:
            self._beat_thread.join(timeout=5)
        super().register_death()

    def _beat(self) -> None:
        while not self._stop_beating.wait(self.heartbeat_seconds):
            try:
                self.pulse()
            except Exception as exc:  # noqa: BLE001 - Redis down: RQ's loop says so; keep on
                log.warning("worker %s: heartbeat failed: %s", self.name, exc)

    def pulse(self) -> None:
        """One beat: the key lives on, and a worker Redis lost (flushed) is listed again."""
        with self.connection.pipeline() as pipe:
            pipe.sismember(self.redis_workers_keys, self.key)
            pipe.hexists(self.key, "birth")
            self.heartbeat(pipeline=pipe)
            listed, whole, *_ = pipe.execute()
        if not (listed and whole):
            self._register_again()

    def _register_again(self) -> None:
        with self.connection.pipeline() as pipe:
            pipe.hset(self.key, mapping=self.serialize())
            pipe.hset(self.key, "state", self.get_state())
            worker_registration.register(self, pipe)
            pipe.expire(self.key, self.dead_seconds)
            pipe.execute()
        log.warning("worker %s: Redis had lost its registration (flushed?); registered again",
                    self.name)

    # --- a name whose worker died --------------------------------------------------------
    def _take_over_dead_namesake(self) -> None:
        """RQ refuses a name whose key lives; the key of a worker killed on this machine
        is dropped at once. One alive, or on another machine, is left for RQ to refuse
        (its key expires within WORKER_DEAD_SECONDS of its death)."""
        hostname, pid, death, queues = (
            value.decode() if value is not None else None
            for value in self.connection.hmget(self.key, "hostname", "pid", "death", "queues"))
        if death or hostname != self.hostname or not pid:
            return
        # In a restarted container the new process may get the dead one's id.
        if int(pid) != os.getpid() and process_running(int(pid)):
            return
        with self.connection.pipeline() as pipe:
            pipe.srem(self.redis_workers_keys, self.key)
            for queue in (queues or "").split(","):
                if queue:
                    pipe.srem(WORKERS_BY_QUEUE_KEY % queue, self.key)
            pipe.delete(self.key, WORKER_EXECUTIONS_KEY_TEMPLATE.format(self.name))
            pipe.execute()
        log.warning("worker %s: the previous worker of this name (process %s) is gone; "
                    "its name taken over", self.name, pid)

    # --- a job Redis lost while it ran ---------------------------------------------------
    def handle_job_success(self, job, queue, started_job_registry, execution):
        try:
            super().handle_job_success(job, queue, started_job_registry, execution)
        except InvalidJobOperation:
            if self.connection.hexists(job.key, "status"):
                raise
            # Redis lost the job while it ran (flushed, or the scheduler took it for a dead
            # worker's): what it did is committed, and RQ has nothing left to record. Only
            # the heartbeat RQ wrote at its end remains, with no time to live.
            self.connection.delete(job.key)
            self.executions.pop(execution.id, None)
            log.warning("worker %s: job %s finished after Redis lost it", self.name, job.id)


def make_worker(queues, connection, name: str | None, config) -> CrmWorker:
    return CrmWorker(queues, connection=connection, name=name,
                     heartbeat_seconds=float(config.get("WORKER_HEARTBEAT_SECONDS", 1)),
                     dead_seconds=int(config.get("WORKER_DEAD_SECONDS", 5)),
                     # between jobs RQ blocks on the queues this long before its own beat
                     worker_ttl=60)
