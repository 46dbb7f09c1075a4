"""Work done after commit: the scheduler (jobs.scheduler) hands due schedule rows and outbox
messages to workers; job functions (jobs.tasks) take ids, assume no request and are
idempotent. With REDIS_URL they run in RQ workers; without it, in-process (jobs.embedded)."""
