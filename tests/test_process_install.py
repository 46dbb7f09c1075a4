"""Installing process definitions: pipelines, stages and fields by key, kept versions."""
from __future__ import annotations

import pytest
from sqlalchemy import func, select

from app.extensions import db
from process.catalog import (DEFINITIONS_DIR, active_process, app_catalog, check_file,
                           install_definition, install_shipped, process_for_entity,
                           process_for_pipeline)
from errors import DefinitionError
from models.pipeline import CustomFieldDef, Pipeline, Stage
from models.process import ProcessVersion
from tests.test_pipeline_fixtures import make_deal

SALES_FILE = DEFINITIONS_DIR / "001_sales.yaml"
SALES_STAGES = ["Новая заявка", "Взят в работу", "КП", "Договор", "Счет",
                "Запуск реализации сделки", "Принят", "К отгрузке", "Отгружен/Доставлен",
                "Сделка успешна", "Сделка провалена"]


def sales_text() -> str:
    return SALES_FILE.read_text(encoding="utf-8")


def _sales_pipeline() -> Pipeline | None:
    return db.session.scalar(select(Pipeline).where(Pipeline.code == "sales"))


def _versions(key="sales") -> list[ProcessVersion]:
    return list(db.session.scalars(select(ProcessVersion).where(
        ProcessVersion.process_key == key).order_by(ProcessVersion.version)).all())


def _counts() -> tuple:
    return tuple(db.session.scalar(select(func.count()).select_from(m))
                 for m in (Pipeline, Stage, CustomFieldDef, ProcessVersion))


def test_seed_installs_the_shipped_sales_process(app):
    from app.seeding import seed_all

    lines = seed_all()
    assert any("001_sales.yaml" in line for line in lines)
    pipeline = _sales_pipeline()
    assert pipeline is not None and pipeline.entity == "deal" and pipeline.name == "Продажа"
    assert [s.name for s in pipeline.stages] == SALES_STAGES
    new = pipeline.stages[0]
    assert (new.key, new.kind, new.color, new.deadline) == ("new", "open", "#39a8ef", "1h")
    assert pipeline.stages[-1].kind == "lost" and pipeline.stages[-2].kind == "won"
    priority = next(f for f in pipeline.fields if f.key == "priority")
    assert (priority.label, priority.type, priority.reference_list) == \
        ("Приоритет (А/В/С)", "choice", "priority")
    [version] = _versions()
    assert version.active and version.version == 1 and version.pipeline_id == pipeline.id
    assert version.filename == "001_sales.yaml" and version.installed_by_id is None


def test_reseeding_creates_no_new_version(app):
    from app.seeding import seed_all

    seed_all()
    before = _counts()
    lines = seed_all()
    assert _counts() == before
    assert [v.version for v in _versions()] == [1]
    assert any("001_sales.yaml): без изменений, версия 1" in line for line in lines)


def test_a_changed_text_becomes_version_2_and_deactivates_1(app, login):
    admin = login("admin")  # noqa: F841 - the admin user exists for installed_by
    install_shipped()
    admin_id = app.appbuilder.sm.find_user(username="admin").id
    changed = sales_text().replace("name: Новая заявка", "name: Новая заявка клиента")
    version = install_definition(changed, "sales_v2.yaml", user_id=admin_id)
    db.session.commit()
    v1, v2 = _versions()
    assert (v1.version, v1.active) == (1, False)
    assert (v2.version, v2.active, v2.installed_by_id, v2.filename) == \
        (2, True, admin_id, "sales_v2.yaml")
    assert version.id == v2.id and v2.source == changed
    pipeline = _sales_pipeline()
    assert pipeline.stages[0].name == "Новая заявка клиента"
    assert db.session.scalar(select(func.count()).select_from(Pipeline)
                             .where(Pipeline.code == "sales")) == 1
    assert active_process("sales").first_stage.name == "Новая заявка клиента"
    assert process_for_pipeline(pipeline.id).first_stage.name == "Новая заявка клиента"
    # the identical text again: still version 2
    again = install_definition(changed, "sales_v2.yaml", user_id=admin_id)
    assert again.id == v2.id and len(_versions()) == 2


@pytest.mark.parametrize("text, message", [
    ("key: sales\nname: Продажа\nentity: deal\nstages: []\n",
     "bad.yaml: stages: нужен хотя бы один этап"),
    ("key: sales\n  name: [\n", "bad.yaml: строка"),
    ("- just a list\n", "bad.yaml: (корень): определение процесса должно быть объектом YAML"),
])
def test_a_bad_definition_is_refused_and_writes_nothing(app, text, message):
    install_shipped()
    db.session.commit()
    before = _counts()
    with pytest.raises(DefinitionError) as info:
        install_definition(text, "bad.yaml")
    assert info.value.message.startswith(message)
    db.session.rollback()
    assert _counts() == before
    assert [(v.version, v.active) for v in _versions()] == [(1, True)]


def _without_stage(text: str, key: str) -> str:
    """The sales text with one stage block cut out."""
    start = text.index(f"  - key: {key}\n")
    end = text.index("\n  - key: ", start + 1)
    return text[:start] + text[end + 1:]


def test_a_dropped_stage_with_records_is_refused_and_an_empty_one_is_deleted(app):
    install_shipped()
    pipeline = _sales_pipeline()
    deal = make_deal("Сделка на этапе «Принят»", "manager", pipeline=pipeline,
                     stage_key="accepted")
    text = _without_stage(sales_text(), "accepted")
    with pytest.raises(DefinitionError) as info:
        install_definition(text, "sales_v2.yaml")
    assert "этап «Принят» (accepted) убран из определения, но на нём 1 записей" in \
        info.value.message
    db.session.rollback()
    assert [(v.version, v.active) for v in _versions()] == [(1, True)]
    assert "accepted" in [s.key for s in _sales_pipeline().stages]

    db.session.delete(db.session.get(type(deal), deal.id))
    db.session.commit()
    install_definition(text, "sales_v2.yaml")
    db.session.commit()
    assert "accepted" not in [s.key for s in _sales_pipeline().stages]
    assert [(v.version, v.active) for v in _versions()] == [(1, False), (2, True)]


def test_the_entity_of_an_installed_process_cannot_change(app):
    install_shipped()
    text = ("key: sales\nname: Продажа\nentity: lead\nstages:\n"
            "  - {key: new, name: Новый}\n  - {key: done, name: Готово, kind: won}\n")
    with pytest.raises(DefinitionError) as info:
        install_definition(text, "sales_lead.yaml")
    assert "процесс «sales» установлен для «deal»" in info.value.message


def test_event_and_order_processes_get_versions_without_a_pipeline(app):
    text = ("key: test_orders\nname: Тестовые заказы\nentity: order\nstages:\n"
            "  - {key: draft, name: Черновик}\n  - {key: done, name: Проведён, kind: won}\n")
    version = install_definition(text, "test_orders.yaml")
    db.session.commit()
    assert version.pipeline_id is None and version.entity == "order"
    assert db.session.scalar(select(Pipeline).where(Pipeline.code == "test_orders")) is None
    process = process_for_entity("order")
    assert process is not None and process.entity == "order"


def test_the_catalog_comes_from_the_models_the_access_table_and_the_lists(app):
    catalog = app_catalog()
    deal = catalog.entity_fields["deal"]
    assert deal["budget"] == "Бюджет" and deal["company"] == "Контрагент"
    assert deal["lost_reason"] == "Причина проигрыша"
    assert deal["lost_comment"] == "Комментарий к причине проигрыша"
    assert "id" not in deal and "company_id" not in deal and "version" not in deal
    assert catalog.entity_fields["lead"]["quality_reason"] == "Причина некачественного лида"
    assert catalog.entity_fields["event"]["state"] == "Состояние"
    assert catalog.entity_fields["order"]["total"] == "Сумма заказа"
    assert {"manager", "sales_head", "accountant"} <= catalog.roles
    assert {"lost_reason", "priority", "payment_terms"} <= catalog.reference_lists


def test_the_shipped_sales_file_passes_the_check(app):
    assert check_file(SALES_FILE) is None
