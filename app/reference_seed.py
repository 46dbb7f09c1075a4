"""Seeding of reference lists by stable codes, never overwriting an admin's edits."""
from __future__ import annotations

from pathlib import Path

import yaml
from sqlalchemy import select

from app.extensions import db
from app.seed_records import remember_seeded, seed_record
from models.reference import ReferenceItem, ReferenceList

SEED_FILE = Path(__file__).parent / "seed_data" / "reference_lists.yaml"


def _item_spec(value) -> dict:
    spec = {"label": value} if isinstance(value, str) else dict(value)
    spec.setdefault("is_other", False)
    return spec


def _snapshot(item: ReferenceItem) -> dict:
    return {"label": item.label, "sort_order": item.sort_order, "active": item.active,
            "is_other": item.is_other}


def seed_reference_lists(path: Path = SEED_FILE) -> list[str]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    created = updated = kept = 0
    for list_code, spec in data.items():
        ref = db.session.scalar(select(ReferenceList).where(ReferenceList.code == list_code))
        if ref is None:
            ref = ReferenceList(code=list_code, name=spec["name"],
                                allow_other=bool(spec.get("allow_other")))
            db.session.add(ref)
            db.session.flush()
        for order, (code, raw) in enumerate(spec["items"].items(), start=1):
            item_spec = _item_spec(raw)
            wanted = {"label": item_spec["label"], "sort_order": order * 10, "active": True,
                      "is_other": item_spec["is_other"]}
            key = f"{list_code}.{code}"
            item = db.session.scalar(select(ReferenceItem).where(
                ReferenceItem.list_id == ref.id, ReferenceItem.code == str(code)))
            rec = seed_record("reference_item", key)
            if item is None:
                if rec is not None:
                    kept += 1  # the admin deleted it: do not bring it back
                    continue
                item = ReferenceItem(list=ref, code=str(code), **wanted)
                db.session.add(item)
                created += 1
            elif rec is not None and rec.value == _snapshot(item):
                for field, value in wanted.items():
                    setattr(item, field, value)
                updated += 1 if rec.value != wanted else 0
            else:
                kept += 1
                continue
            remember_seeded("reference_item", key, wanted)
    db.session.commit()
    return [f"Справочники: создано {created}, обновлено {updated}, "
            f"оставлено как изменил администратор {kept}"]
