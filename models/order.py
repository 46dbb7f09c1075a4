"""Customer orders: the 1C document "Заказ покупателя" and its line items."""
from __future__ import annotations

import datetime as dt
import enum
from decimal import Decimal

from sqlalchemy import (Boolean, Date, DateTime, ForeignKey, Integer, Numeric, String, Text,
                        event, or_, select, update)
from sqlalchemy.orm import (Mapped, attributes, mapped_column, object_session,
                            relationship)
from sqlalchemy import inspect as sa_inspect

from models.base import (AuditedMixin, CheckedMixin, Model, RecordLinkMixin, TimestampMixin,
                         TrashableMixin, TrashChildMixin, VersionedMixin, utcnow)
from models.lines import LineTotals, money, number_errors
from models.product import LineItemMixin, Product
from models.reference import ReferenceItem
from models.task import record_link_errors

NUMBER_PREFIX = "ЗП-"
SOURCE_LIST = "lead_source"


class OrderStatus(str, enum.Enum):
    request = "request"
    open = "open"
    agreed = "agreed"
    in_work = "in_work"
    done = "done"
    cancelled = "cancelled"


ORDER_STATUS_LABELS = {
    OrderStatus.request.value: "Заявка",
    OrderStatus.open.value: "Открыт",
    OrderStatus.agreed.value: "Согласовано",
    OrderStatus.in_work.value: "В работе",
    OrderStatus.done.value: "Выполнен",
    OrderStatus.cancelled.value: "Отменён",
}
# A request may be incomplete and a cancelled order may be dropped as it is; every other
# status means the order is being executed and needs its lines and its executor.
DRAFT_STATUSES = (OrderStatus.request.value, OrderStatus.cancelled.value)


class Order(AuditedMixin, CheckedMixin, VersionedMixin, RecordLinkMixin, TimestampMixin,
            TrashableMixin, Model):
    """`record_entity`/`record_id` (RecordLinkMixin): the record the order was created on the
    basis of (a deal, an event...)."""

    __tablename__ = "customer_order"
    __entity__ = "order"
    __label__ = "Заказ покупателя"
    __choice_labels__ = {"status": ORDER_STATUS_LABELS}
    __checked_fields__ = ("company", "contract", "ship_date", "status", "responsible",
                          "executor", "source", "items", "record_entity", "record_id")

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # Given after the insert from the id, so two orders saved at once never get one number.
    number: Mapped[str | None] = mapped_column(String(32), unique=True)
    date: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False, default=utcnow,
                                              index=True)
    company_id: Mapped[int] = mapped_column(Integer, ForeignKey("company.id"), nullable=False,
                                            index=True)
    contact_id: Mapped[int | None] = mapped_column(Integer, ForeignKey("contact.id"))
    # The contract as 1C prints it: number and date, e.g. "№ 15/26 от 01.03.2026".
    contract: Mapped[str | None] = mapped_column(String(200))
    ship_date: Mapped[dt.date] = mapped_column(Date, nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False,
                                        default=OrderStatus.request.value, index=True)
    total: Mapped[Decimal] = mapped_column(Numeric(14, 2), nullable=False, default=0,
                                           info={"money": True})
    responsible_id: Mapped[int | None] = mapped_column(Integer, ForeignKey("ab_user.id"),
                                                       index=True)
    # The execution employee, or the head of execution when the manager does not know who.
    executor_id: Mapped[int | None] = mapped_column(Integer, ForeignKey("ab_user.id"),
                                                    index=True)
    source_id: Mapped[int | None] = mapped_column(Integer, ForeignKey("reference_item.id"))
    requires_approval: Mapped[bool] = mapped_column(Boolean, default=False, nullable=False)
    comment: Mapped[str | None] = mapped_column(Text)
    # Set by the process engine: which rule and which transition last moved the order.
    rule_key: Mapped[str | None] = mapped_column(String(500))
    transition_id: Mapped[str | None] = mapped_column(String(64))

    company = relationship("Company")
    contact = relationship("Contact")
    responsible = relationship("CrmUser", foreign_keys=[responsible_id])
    executor = relationship("CrmUser", foreign_keys=[executor_id])
    created_by = relationship("CrmUser", foreign_keys="Order.created_by_id")
    source = relationship("ReferenceItem")
    items = relationship("OrderItem", back_populates="order", order_by="OrderItem.id",
                         cascade="all, delete-orphan")

    @property
    def status_label(self) -> str:
        return ORDER_STATUS_LABELS.get(self.status, self.status or "")

    __index_creator__ = True

    @classmethod
    def scope_clause(cls, user_id: int, user_ids: set[int]):
        return or_(cls.responsible_id.in_(user_ids), cls.executor_id.in_(user_ids),
                   cls.created_by_id.in_(user_ids))

    @classmethod
    def check_values(cls, v) -> dict[str, str]:
        """`v` is the order or a form seen as attributes. `v.id` is None for a new order;
        `v.items` is None when the caller cannot tell (then lines are not checked)."""
        session = _session_of(v)
        if session is None:
            return cls._check(v, None)
        # A check must not flush a half-edited order (it would bump its version).
        with session.no_autoflush:
            return cls._check(v, session)

    @classmethod
    def _check(cls, v, session) -> dict[str, str]:
        errors: dict[str, str] = {}
        company_id = _ref_id(v, "company")
        if company_id is None:
            errors["company"] = "Укажите контрагента"
        if not (v.contract or "").strip():
            errors["contract"] = "Укажите договор: номер и дату"
        if v.ship_date is None:
            errors["ship_date"] = "Укажите дату отгрузки"
        if _ref_id(v, "responsible") is None:
            errors["responsible"] = "Укажите ответственного менеджера"
        status = v.status or OrderStatus.request.value
        if status not in ORDER_STATUS_LABELS:
            errors["status"] = "Выберите статус заказа из списка"
        elif status not in DRAFT_STATUSES:
            items = getattr(v, "items", None)
            if items is not None and not [i for i in items if not _is_deleted(i)]:
                errors["status"] = (f"Заказ в статусе «{ORDER_STATUS_LABELS[status]}» должен "
                                    "содержать хотя бы одну позицию: добавьте позиции "
                                    "в статусе «Заявка»")
            if _ref_id(v, "executor") is None:
                errors["executor"] = "Укажите исполнителя или руководителя отдела исполнения"
        source = v.source
        if source is None and _ref_id(v, "source") is not None and session is not None:
            source = session.get(ReferenceItem, _ref_id(v, "source"))
        if source is not None:
            if source.list is not None and source.list.code != SOURCE_LIST:
                errors["source"] = "Источник выбирается из справочника «Источники и каналы»"
            elif not source.active and source.id != _stored_source_id(v):
                errors["source"] = f"Источник «{source.label}» больше не используется"
        elif company_id is not None and _is_new_client(session, company_id, v):
            errors["source"] = "Для нового клиента укажите источник"
        # "Создан на основании": the linked record must exist (one rule for every record).
        errors.update(record_link_errors(v))
        return errors

    def fill_defaults(self) -> None:
        """Run at every flush that touches the order: a date or status cleared on the way
        gets its default again (the columns are NOT NULL)."""
        if self.date is None:
            self.date = utcnow()
        if not self.status:
            self.status = OrderStatus.request.value

    def __str__(self) -> str:
        return f"Заказ {self.number or 'без номера'}"


class OrderItem(LineItemMixin, AuditedMixin, CheckedMixin, TimestampMixin, TrashChildMixin,
                Model):
    __tablename__ = "customer_order_item"
    __entity__ = "order_item"
    __label__ = "Позиция заказа"
    __trash_parent__ = "order"
    __checked_fields__ = ("order", "product", "name", "quantity", "price")

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    order_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("customer_order.id", ondelete="CASCADE"), nullable=False,
        index=True)
    product_id: Mapped[int | None] = mapped_column(Integer, ForeignKey("product.id"))
    name: Mapped[str | None] = mapped_column(String(300))
    unit: Mapped[str | None] = mapped_column(String(16))
    quantity: Mapped[Decimal] = mapped_column(Numeric(12, 3), nullable=False, default=1)
    price: Mapped[Decimal] = mapped_column(Numeric(14, 2), nullable=False, default=0,
                                           info={"money": True})
    amount: Mapped[Decimal] = mapped_column(Numeric(14, 2), nullable=False, default=0,
                                            info={"money": True})
    # Copied from the product when the line is added (LineItemMixin.fill_from_product).
    department_id: Mapped[int | None] = mapped_column(Integer, ForeignKey("department.id"))
    responsible_id: Mapped[int | None] = mapped_column(Integer, ForeignKey("ab_user.id"))
    is_grey: Mapped[bool] = mapped_column(Boolean, default=False, nullable=False)
    planned_cost: Mapped[Decimal | None] = mapped_column(Numeric(14, 2), info={"money": True})
    planned_hours: Mapped[Decimal | None] = mapped_column(Numeric(8, 2))

    order = relationship(Order, back_populates="items")
    product = relationship(Product)
    department = relationship("Department")
    responsible = relationship("CrmUser", foreign_keys=[responsible_id])

    @property
    def grey_label(self) -> str:
        return "Серый" if self.is_grey else "Белый"

    @classmethod
    def scope_clause(cls, user_id: int, user_ids: set[int]):
        # A line is visible with its order.
        return cls.order_id.in_(select(Order.id).where(Order.scope_clause(user_id, user_ids)))

    @classmethod
    def check_values(cls, v) -> dict[str, str]:
        errors: dict[str, str] = {}
        if getattr(v, "order", None) is None:
            errors["order"] = "Укажите заказ"
        if v.product is None and not (v.name or "").strip():
            errors["product"] = "Выберите номенклатуру или укажите наименование"
        errors.update(number_errors(cls, v))
        return errors

    def compute_amount(self) -> Decimal:
        # Both columns are NOT NULL: a line saved without them counts one piece at no price.
        if self.quantity is None:
            self.quantity = Decimal(1)
        if self.price is None:
            self.price = Decimal(0)
        self.amount = money(Decimal(self.quantity or 0) * Decimal(self.price or 0))
        return self.amount

    def __str__(self) -> str:
        return self.name or (self.product.name if self.product else "")


def _is_deleted(obj) -> bool:
    state = sa_inspect(obj)
    return state.deleted or state.was_deleted or (
        state.session is not None and obj in state.session.deleted)


def is_new_client(session, company_id: int, order_id: int | None = None) -> bool:
    """A counterparty with no other order is a new client (its orders need a source)."""
    stmt = select(Order.id).where(Order.company_id == company_id)
    if order_id:
        stmt = stmt.where(Order.id != order_id)
    with session.no_autoflush:
        return session.scalar(stmt.limit(1)) is None


def _is_new_client(session, company_id, v) -> bool:
    if not isinstance(company_id, int):
        return True  # a counterparty created in the same transaction has no orders yet
    if session is None:
        return False  # cannot tell: the save path (with a session) checks again
    return is_new_client(session, company_id, getattr(v, "id", None))


def _session_of(v):
    """The session behind the values: the record's own, or that of an object a form chose."""
    try:
        session = object_session(v)
    except Exception:  # a form proxy is not a mapped object
        session = None
    if session is not None:
        return session
    for name in ("company", "responsible", "source", "executor", "contact"):
        obj = getattr(v, name, None)
        if obj is not None:
            try:
                found = object_session(obj)
            except Exception:
                found = None
            if found is not None:
                return found
    return None


def _ref_id(v, name: str):
    """The id a many-to-one points at, whether the relationship or only the FK is set.
    A relationship set to None wins over the FK it has not yet cleared (that happens at
    the flush)."""
    obj = getattr(v, name, None)
    if obj is not None:
        return getattr(obj, "id", None) or obj
    try:
        state = sa_inspect(v)
    except Exception:
        return None  # a form: the field is the truth
    if state.attrs[name].history.has_changes():
        return None
    return getattr(v, f"{name}_id", None)


def _stored_source_id(v):
    """The source the record holds in the database: an inactive item it already has stays.
    A form proxy gives it as `held_source_id`; on a mapped order the FK column keeps the loaded
    value until the flush, however the relationship was changed."""
    try:
        state = sa_inspect(v)
    except Exception:
        return getattr(v, "held_source_id", None)
    if state.transient or state.pending:
        return None
    hist = state.attrs.source_id.history
    if hist.deleted:
        return hist.deleted[0]
    return hist.unchanged[0] if hist.unchanged else None


def order_number(order_id: int) -> str:
    return f"{NUMBER_PREFIX}{order_id:06d}"


# --- keeping derived values right on every path (forms, API, jobs, demo) ---------------------
# The total from the lines: models/lines.py (installed by app.listeners).
LINE_TOTALS = LineTotals(Order, OrderItem, parent_attr="order", items_attr="items",
                          total_attr="total", prepare_parent="fill_defaults")


@event.listens_for(Order, "after_insert")
def _order_number(_mapper, connection, target) -> None:
    if target.number:
        return
    number = order_number(target.id)
    connection.execute(update(Order.__table__).where(Order.__table__.c.id == target.id)
                       .values(number=number))
    attributes.set_committed_value(target, "number", number)
