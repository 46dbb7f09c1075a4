"""Payment notifications the bank or the payment service sent: one row per payment_id, so
a notification delivered twice marks nothing twice."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import DateTime, ForeignKey, Integer, Numeric, String
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Model, utcnow


class ReceivedPayment(Model):
    __tablename__ = "received_payment"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    payment_id: Mapped[str] = mapped_column(String(100), nullable=False, unique=True)
    document_id: Mapped[int] = mapped_column(Integer, ForeignKey("document.id"), nullable=False,
                                             index=True)
    amount: Mapped[object] = mapped_column(Numeric(14, 2), nullable=False)
    paid_at: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False)
    received_at: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False, default=utcnow)
