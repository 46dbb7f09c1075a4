"""Every SQLAlchemy session listener of the product, installed once, here.

Each keeps something true on every path that saves (form, API, job, CLI, demo): the audit
log, the stage guard, task deadlines as schedule rows, line-item totals, and the embedded
scheduler's wake-up after a commit that brought new work; and on every path that reads:
records in the recycle bin stay out of sight (models/trash.py), and reads kept for one
transaction are forgotten when it ends or writes what they read (process/txcache.py)."""
from __future__ import annotations

from app import attachments, audit, deadlines
from jobs import embedded
from models import deal, lines, order, trash
from process import guard, txcache

_installed = False


def install() -> None:
    global _installed
    if _installed:
        return
    audit.install()
    trash.install()
    attachments.install()
    guard.install()
    txcache.install()
    deadlines.install()
    deal.install_payment_amounts()  # before the totals: a share of the budget as it stood
    lines.install(deal.LINE_TOTALS, order.LINE_TOTALS)
    embedded.install_wakeup()
    _installed = True
