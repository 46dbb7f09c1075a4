"""Effects on records: set a field, create a record «на основании» this one (event No. 2,
an approval event, an order), move the basis record, convert a lead."""
from __future__ import annotations

from sqlalchemy import inspect as sa_inspect, select

from app.extensions import db
from errors import CrmError
from models.base import utcnow
from models.deal import Deal
from models.event import EventContactRow
from models.party import Company, Contact, kind_for_inn, match_company, match_contact
from models.pipeline import Pipeline, Stage
from models.reference import ReferenceItem, ReferenceList
from models.registry import model_for
from models.timeline import add_timeline
from process.effects.context import EffectContext, already_applied
from process.effects.schedule import write_row
from process.people import resolve_person
from process.snapshot import current_stage, is_process_record, process_of
from rules.engine import Effect


def set_field(ctx: EffectContext, effect: Effect) -> None:
    record = ctx.record
    field, value = effect.params["field"], effect.params["value"]
    if hasattr(type(record), field) and field != "custom":
        setattr(record, field, value)
        return
    custom = dict(getattr(record, "custom", None) or {})
    custom[field] = value.isoformat() if hasattr(value, "isoformat") else value
    record.custom = custom


def _reference_item(model, field: str, code):
    """The ReferenceItem of `model.field`'s list with `code` (definitions name items by
    code; the list is the one the field's relationship points at in the model)."""

    lists = {"topic": "event_topic", "source": "lead_source", "lost_reason": "lost_reason",
             "client_activity": "client_activity", "quality_reason": "lead_quality_reason"}
    return db.session.scalar(select(ReferenceItem).join(ReferenceList).where(
        ReferenceList.code == lists.get(field, field), ReferenceItem.code == str(code)))


def _assign_value(new, field: str, value) -> None:

    mapper = sa_inspect(type(new))
    if field in mapper.relationships:
        rel = mapper.relationships[field]
        target_cls = rel.mapper.class_
        if rel.uselist:
            if isinstance(value, list):
                setattr(new, field, list(db.session.scalars(
                    select(target_cls).where(target_cls.id.in_(value)))))
            return
        if field == "pipeline" and isinstance(value, str):
            return  # placed by its code with its first stage (_place_in_pipeline)
        if target_cls is ReferenceItem and isinstance(value, str):
            setattr(new, field, _reference_item(type(new), field, value))
        elif isinstance(value, int):
            setattr(new, field, db.session.get(target_cls, value))
        else:
            setattr(new, field, value)
    elif field in mapper.column_attrs:
        setattr(new, field, value)
    else:
        custom = dict(getattr(new, "custom", None) or {})
        custom[field] = value
        if hasattr(new, "custom"):
            new.custom = custom


def create_record(ctx: EffectContext, effect: Effect) -> None:
    """Creates the record a definition names (event No. 2, an approval event, an order),
    linked «на основании» this one. The engine has already resolved the copied and given
    values: relationships by id (reference items by code), contact rows by row ids."""
    record, entity = ctx.record, ctx.entity
    params = effect.params
    model = model_for(params["entity"])
    if model is None:
        raise CrmError(f"Неизвестная сущность «{params['entity']}»")
    if hasattr(model, "effect_key") and already_applied(model, effect.key):
        return
    new = model()
    rows = None
    for field, value in (params.get("values") or {}).items():
        if field == "contact_rows":
            rows = value
        else:
            _assign_value(new, field, value)
    responsible = params.get("responsible")
    if responsible is not None and hasattr(new, "responsible_id"):
        new.responsible_id = resolve_person(responsible, record, ctx.actor_id)
    if params.get("basis", True) and hasattr(new, "record_entity"):
        new.record_entity, new.record_id = entity, record.id
    for attr, value in (("rule_key", effect.rule), ("effect_key", effect.key),
                        ("transition_id", effect.key.split(":")[0])):
        if hasattr(new, attr):
            setattr(new, attr, value)
    _copy_contact_rows(new, rows)
    first_stage = _place_in_pipeline(new, params.get("values") or {})
    db.session.add(new)
    db.session.flush()
    if first_stage is None and is_process_record(new) and process_of(new) is not None:
        # An event or order enters its process at the state it was made in: stage
        # history and entry actions, as one a person creates.
        first_stage = current_stage(new)
    if first_stage is not None:
        ctx.move(new, first_stage, from_key=None)
    label = getattr(model, "__label__", "") or params["entity"]
    add_timeline(entity, record.id, "system", f"Создано автоматически: {label} «{new}»",
                 author_id=0, payload={"rule": effect.rule, "entity": params["entity"],
                                       "id": new.id})
    reminder = params.get("reminder")
    if reminder:
        write_row(new, params["entity"], Effect(
            action="remind", key=f"{effect.key}:reminder", rule=f"{effect.rule}/reminder",
            stage=effect.stage, params={k: v for k, v in reminder.items() if k != "due_at"},
            due_at=reminder.get("due_at")))


def _place_in_pipeline(new, values: dict) -> str | None:
    """A lead or deal created by a definition goes to the first stage of the pipeline it
    names by code; returns that stage's key (its entry actions then run)."""
    code = values.get("pipeline")
    if not isinstance(code, str) or not hasattr(new, "pipeline_id"):
        return None

    pipeline = db.session.scalar(select(Pipeline).where(Pipeline.code == code))
    if pipeline is None:
        raise CrmError(f"Нет воронки «{code}»: установите её определение")
    first = db.session.scalar(select(Stage).where(Stage.pipeline_id == pipeline.id)
                              .order_by(Stage.sort_order))
    new.pipeline, new.stage = pipeline, first
    return first.key


def _copy_contact_rows(new, rows) -> None:
    """`rows`: ids of another event's contact rows, or one contact id (an order's)."""

    if rows in (None, [], "") or not hasattr(new, "contact_rows"):
        return
    if isinstance(rows, int):
        new.contact_rows.append(EventContactRow(contact_id=rows))
        return
    for row in db.session.scalars(select(EventContactRow).where(EventContactRow.id.in_(rows))
                                  .order_by(EventContactRow.id)):
        new.contact_rows.append(EventContactRow(contact_id=row.contact_id,
                                                how_to_reach=row.how_to_reach, note=row.note))


def move_record(ctx: EffectContext, effect: Effect) -> None:
    """Moves the record this one was created on the basis of (the order an approval event
    was made for) through its own process."""
    record, params = ctx.record, effect.params
    if getattr(record, "record_entity", None) != params["entity"] or not record.record_id:
        return  # not created on the basis of such a record: nothing to move
    target = db.session.get(model_for(params["entity"]), record.record_id)
    if target is not None and current_stage(target) != params["to"]:
        ctx.move(target, params["to"])


def convert_lead(ctx: EffectContext, effect: Effect) -> None:
    """Lead -> counterparty + contact + deal. An existing counterparty or contact is linked
    when it matches (models.party.match_company: INN, then full or short name, then phone
    or e-mail; match_contact), never duplicated; the
    deal enters the first stage of the named pipeline through the transition service."""
    lead = ctx.record
    if lead.converted_at is not None:
        return
    custom = lead.custom or {}
    contact = lead.contact or match_contact(phone=lead.phone, email=lead.email)
    company = lead.company or match_company(
        inn=lead.inn, full_name=lead.company_full_name, name=lead.company_name,
        short_name=custom.get("company_short_name"), phone=lead.phone, email=lead.email,
        contact=contact)
    if company is None:
        name = custom.get("company_short_name") or lead.company_name or lead.title
        company = Company(kind=kind_for_inn(lead.inn), name=name,
                          inn=(lead.inn or "").strip() or None,
                          full_name=lead.company_full_name or lead.company_name,
                          phone=lead.phone, email=lead.email,
                          postal_address=custom.get("company_postal_address"),
                          responsible_id=lead.responsible_id)
        db.session.add(company)
    if contact is None:
        person = (custom.get("decision_maker") or lead.contact_name or lead.title).split()
        contact = Contact(last_name=person[0], first_name=" ".join(person[1:2]) or None,
                          middle_name=" ".join(person[2:3]) or None, company=company,
                          phone=lead.phone, email=lead.email,
                          decision_maker=bool(custom.get("decision_maker")))
        db.session.add(contact)
    pipeline = db.session.scalar(select(Pipeline).where(
        Pipeline.code == effect.params.get("pipeline"))) if effect.params.get("pipeline") \
        else db.session.scalar(select(Pipeline).where(Pipeline.entity == "deal",
                                                      Pipeline.active.is_(True))
                               .order_by(Pipeline.sort_order))
    if pipeline is None:
        raise CrmError("Нет воронки сделок для конвертации лида")
    first = db.session.scalar(select(Stage).where(Stage.pipeline_id == pipeline.id)
                              .order_by(Stage.sort_order))
    deal = Deal(title=lead.title, pipeline=pipeline, stage=first, company=company,
                contacts=[contact], responsible_id=lead.responsible_id,
                source_id=lead.source_id, lead=lead)
    lead.company, lead.contact, lead.converted_at = company, contact, utcnow()
    db.session.add(deal)
    db.session.flush()
    ctx.move(deal, first.key, from_key=None)
    add_timeline(ctx.entity, lead.id, "system",
                 f"Лид конвертирован: контрагент «{company}», контакт «{contact}», "
                 f"сделка «{deal.title}»", author_id=0, payload={"deal": deal.id})
