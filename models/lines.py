"""Line items and the total of the record that holds them (a deal's budget, an order's total).

Kept in the flush, so that forms, the API, jobs and the demo all get the same result: a line
copies its product's attributes when the product is chosen, computes its amount, and its
parent's total becomes the sum of its lines. Deals and orders share this one implementation;
`app.listeners.install()` installs it once for each."""
from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from sqlalchemy import event
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.orm import Session

CENT = Decimal("0.01")


def money(value) -> Decimal:
    return Decimal(value or 0).quantize(CENT, rounding=ROUND_HALF_UP)


@dataclass(frozen=True)
class LineTotals:
    """One parent model and its line model. The line has `fill_from_product()` (LineItemMixin)
    and `compute_amount()`."""

    parent: type
    line: type
    parent_attr: str  # the line's relationship to its parent ("deal", "order")
    items_attr: str  # the parent's relationship to its lines
    total_attr: str  # the parent's column that holds the sum
    # A parent flag: the total was typed by hand, so the lines do not change it.
    manual_attr: str | None = None
    # A parent method run on each parent the flush touches (defaults of the parent's own).
    prepare_parent: str | None = None

    def before_flush(self, session: Session, _context=None, _instances=None) -> None:
        deleted = set(session.deleted)
        parents: set = set()
        for obj in list(session.new) + list(session.dirty):
            if isinstance(obj, self.line):
                self._refresh_line(obj)
                parents |= self._parents_of(obj, session)
            elif isinstance(obj, self.parent):
                parents.add(obj)
        for obj in deleted:
            if isinstance(obj, self.line):
                parents |= self._parents_of(obj, session)
        for parent in parents:
            if parent not in deleted:
                self._update_total(parent, deleted)

    def _refresh_line(self, line) -> None:
        if line.product is not None and _product_changed(line):
            line.fill_from_product(line.product)
            # A relationship set on the line wins over its FK column at the flush: keep the
            # relationships in step with the ids the product gave.
            line.department = line.product.department
            line.responsible = line.product.responsible
        line.compute_amount()

    def _parents_of(self, line, session) -> set:
        """The line's parent now and before (a line moved to another parent through the API
        changes both totals)."""
        hist = sa_inspect(line).attrs[self.parent_attr].history
        found = {p for p in (*hist.added, *hist.deleted, *hist.unchanged) if p is not None}
        parent_id = getattr(line, f"{self.parent_attr}_id", None)
        if not found and parent_id is not None:
            parent = session.get(self.parent, parent_id)
            if parent is not None:
                found.add(parent)
        return found

    def _update_total(self, parent, deleted: set) -> None:
        if self.prepare_parent:
            getattr(parent, self.prepare_parent)()
        if self.manual_attr and getattr(parent, self.manual_attr):
            return
        lines = getattr(parent, self.items_attr)
        total = money(sum((Decimal(i.amount or 0) for i in lines if i not in deleted),
                          Decimal(0)))
        current = getattr(parent, self.total_attr)
        if current is None or money(current) != total:
            setattr(parent, self.total_attr, total)


def _number(value) -> Decimal | None:
    if value is None or value == "":
        return None
    try:
        return Decimal(str(value))
    except ArithmeticError:
        return Decimal("NaN")


def _too_big(model, key: str, value: Decimal) -> bool:
    """Larger than the column holds (PostgreSQL would refuse the row at the flush)."""
    column = sa_inspect(model).columns[key]
    precision, scale = column.type.precision, column.type.scale or 0
    return precision is not None and abs(value) >= Decimal(10) ** (precision - scale)


def number_errors(model, v) -> dict[str, str]:
    """Quantity and price of a line as both line models check them: numbers (an "Infinity"
    typed in the form is not one), a quantity above zero, a price not below it, and an
    amount the columns can hold."""
    errors: dict[str, str] = {}
    quantity, price = _number(v.quantity), _number(getattr(v, "price", None))
    if quantity is None or not quantity.is_finite() or quantity <= 0:
        errors["quantity"] = "Количество должно быть больше нуля"
    elif _too_big(model, "quantity", quantity):
        errors["quantity"] = "Количество слишком велико"
    if price is not None and not price.is_finite():
        errors["price"] = "Цена должна быть числом"
    elif price is not None and price < 0:
        errors["price"] = "Цена не может быть отрицательной"
    elif price is not None and _too_big(model, "price", price):
        errors["price"] = "Цена слишком велика"
    if not errors and price is not None and _too_big(model, "amount", quantity * price):
        errors["quantity"] = "Сумма позиции слишком велика: уменьшите количество или цену"
    return errors


def _product_changed(line) -> bool:
    state = sa_inspect(line)
    if state.pending or state.transient:
        return True
    return bool(state.attrs.product.history.added or state.attrs.product_id.history.added)


def install(*totals: LineTotals) -> None:
    """Called once by app.listeners.install()."""
    for spec in totals:
        event.listen(Session, "before_flush", spec.before_flush)
