"""Products (nomenclature). Line items of deals and orders copy the product's department,
responsible executor and "серый/белый" flag when they are added."""
from __future__ import annotations

from decimal import Decimal

from sqlalchemy import Boolean, ForeignKey, Integer, Numeric, String, Text, func, select
from sqlalchemy.orm import Mapped, mapped_column, relationship, validates

from models.base import AuditedMixin, CheckedMixin, Model, TimestampMixin

# 22% is the standard rate from 1 January 2026 (Federal Law 425-FZ); 20% stays for
# what was priced before.
VAT_RATES = {"none": "Без НДС", "0": "0%", "10": "10%", "20": "20%", "22": "22%"}
# "серый/белый": how the item is accounted for. The words are the company's own.
GREY_LABELS = {True: "Серый", False: "Белый"}
SKU_TAKEN = "Артикул «{sku}» уже есть у другой номенклатуры"


class Product(AuditedMixin, CheckedMixin, TimestampMixin, Model):
    __tablename__ = "product"
    __entity__ = "product"
    __label__ = "Номенклатура"
    __checked_fields__ = ("name", "sku", "price", "vat_rate", "planned_cost", "planned_hours")

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(300), nullable=False, index=True)
    sku: Mapped[str | None] = mapped_column(String(64), unique=True)
    unit: Mapped[str] = mapped_column(String(16), nullable=False, default="шт")
    price: Mapped[Decimal] = mapped_column(Numeric(14, 2), nullable=False, default=0,
                                           info={"money": True})
    vat_rate: Mapped[str] = mapped_column(String(8), nullable=False, default="22")
    department_id: Mapped[int | None] = mapped_column(Integer, ForeignKey("department.id"))
    responsible_id: Mapped[int | None] = mapped_column(Integer, ForeignKey("ab_user.id"))
    # "серый/белый": how the item is accounted for; copied to line items.
    is_grey: Mapped[bool] = mapped_column(Boolean, default=False, nullable=False)
    planned_cost: Mapped[Decimal | None] = mapped_column(Numeric(14, 2), info={"money": True})
    planned_hours: Mapped[Decimal | None] = mapped_column(Numeric(8, 2))
    active: Mapped[bool] = mapped_column(Boolean, default=True, nullable=False)
    description: Mapped[str | None] = mapped_column(Text)

    department = relationship("Department")
    responsible = relationship("CrmUser", foreign_keys=[responsible_id])

    @validates("sku")
    def _normalise_sku(self, _key, value):
        # An empty SKU is "no SKU": stored as NULL so that many products may lack one
        # without tripping the unique index.
        value = (value or "").strip()
        return value or None

    @property
    def vat_label(self) -> str:
        return VAT_RATES.get(self.vat_rate, self.vat_rate or "")

    @property
    def grey_label(self) -> str:
        return GREY_LABELS[bool(self.is_grey)]

    @classmethod
    def check_values(cls, v) -> dict[str, str]:
        errors = {}
        if not (v.name or "").strip():
            errors["name"] = "Укажите наименование"
        if v.price is not None and Decimal(v.price) < 0:
            errors["price"] = "Цена не может быть отрицательной"
        if v.vat_rate is not None and str(v.vat_rate) not in VAT_RATES:
            errors["vat_rate"] = "Ставка НДС: без НДС, 0%, 10%, 20% или 22%"
        if getattr(v, "planned_cost", None) is not None and Decimal(v.planned_cost) < 0:
            errors["planned_cost"] = "Плановая себестоимость не может быть отрицательной"
        if getattr(v, "planned_hours", None) is not None and Decimal(v.planned_hours) < 0:
            errors["planned_hours"] = "Плановое время не может быть отрицательным"
        return errors

    def __str__(self) -> str:
        return self.name or ""


def sku_taken(session, sku: str | None, exclude_id: int | None = None) -> str | None:
    """The Russian message when another product already has this SKU (case-insensitive,
    so that "AB-1" and "ab-1" are not two products), else None. Forms and the API ask it
    before a save: the unique index alone would answer with a 500."""
    sku = (sku or "").strip()
    if not sku:
        return None
    stmt = select(Product.id).where(func.lower(Product.sku) == sku.lower())
    if exclude_id is not None:
        stmt = stmt.where(Product.id != exclude_id)
    with session.no_autoflush:
        found = session.scalar(stmt.limit(1))
    return SKU_TAKEN.format(sku=sku) if found is not None else None


class LineItemMixin:
    """Shared by deal and order line items: the copy of the product's attributes."""

    def fill_from_product(self, product: Product) -> None:
        self.department_id = product.department_id
        self.responsible_id = product.responsible_id
        self.is_grey = product.is_grey
        if getattr(self, "price", None) in (None, 0, Decimal(0)):
            self.price = product.price
        if not getattr(self, "name", None):
            self.name = product.name
        if hasattr(self, "unit") and not self.unit:
            self.unit = product.unit
        # "Плановая себестоимость и время" goes to the line when the line keeps it.
        if hasattr(self, "planned_cost") and getattr(self, "planned_cost", None) is None:
            self.planned_cost = product.planned_cost
        if hasattr(self, "planned_hours") and getattr(self, "planned_hours", None) is None:
            self.planned_hours = product.planned_hours
