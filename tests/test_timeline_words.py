"""The record's history in words: custom fields by their labels and typed values, no entry
for a save that changes nothing, one line per automatic task, no engine keys; and the domain
labels living in models.labels, below the views."""
from __future__ import annotations

import pathlib

import pytest
from sqlalchemy import select

from app.extensions import db
from models.audit import AuditLog
from models.deal import Deal
from models.reference import ReferenceItem, ReferenceList
from models.task import Task
from models.timeline import timeline_for
from tests.helpers import legal_company
from tests.test_deal_custom_fields import _deal, _edit_form

ROOT = pathlib.Path(__file__).resolve().parent.parent


@pytest.fixture()
def sales(app):
    """The shipped «Продажа» process, installed (pipeline, custom fields, rules)."""
    from process import catalog as processes
    from config import BASE_DIR
    from models.pipeline import Pipeline

    processes.install_file(BASE_DIR / "rules" / "definitions" / "001_sales.yaml")
    db.session.commit()
    return db.session.scalar(select(Pipeline).where(Pipeline.code == "sales"))


def _priority_label(code: str) -> str:
    return db.session.scalar(select(ReferenceItem.label).join(ReferenceList).where(
        ReferenceList.code == "priority", ReferenceItem.code == code))


def _page(client, deal) -> str:
    """The history section of the deal's record page."""
    resp = client.get(f"/dealview/show/{deal.id}")
    assert resp.status_code == 200
    return resp.get_data(as_text=True).split('id="crm-history"', 1)[1]


def _save(client, deal, sales, **custom):
    db.session.expire_all()
    deal = db.session.get(Deal, deal.id)
    resp = client.post(f"/dealview/edit/{deal.id}", data=_edit_form(deal, sales, **custom))
    assert resp.status_code == 302, resp.get_data(as_text=True)[:2000]
    db.session.expire_all()
    return db.session.get(Deal, deal.id)


def test_custom_field_change_reads_in_labels_and_typed_values(client, sales):
    deal = _deal(client, sales)
    _save(client, deal, sales, priority="A", delivery_term="2026-12-20")
    label = _priority_label("A")
    expected = f"Приоритет (А/В/С): — → {label}; Срок поставки: — → 20.12.2026"
    page = _page(client, deal)
    assert expected in page
    assert "&#39;priority&#39;" not in page and "{'" not in page
    # An unticked checkbox saved for the first time is no change anyone made.
    assert "Статус КП" not in page
    _save(client, deal, sales, priority="A", delivery_term="2026-12-20", kp_agreed="y")
    texts = [i.text for i in timeline_for("deal", deal.id)]
    assert "Изменены дополнительные поля: Статус КП (Согласовано/Не согласовано): Нет → Да" \
        in texts
    assert not any("{" in t or "delivery_term" in t for t in texts)


def test_audit_screen_tells_custom_fields_in_words_too(client, sales):
    deal = _deal(client, sales)
    _save(client, deal, sales, priority="A", delivery_term="2026-12-20")
    html = client.get("/auditlogview/list/").get_data(as_text=True)
    assert "Срок поставки: — → 20.12.2026" in html
    assert "&#39;delivery_term&#39;" not in html


def test_resaving_with_empty_strings_adds_no_history_and_no_audit_row(client):
    company = legal_company()
    before = db.session.query(AuditLog).count()
    resp = client.api("put", f"/api/v1/company/{company.id}", json={"note": "", "website": ""})
    assert resp.status_code == 200, resp.json
    assert db.session.query(AuditLog).count() == before
    assert [i.kind for i in timeline_for("company", company.id)] == ["system"]
    page = client.get(f"/companyview/show/{company.id}").get_data(as_text=True)
    assert "— → —" not in page and "Изменено поле" not in page


def test_empty_custom_value_is_no_change(client, sales):
    deal = _deal(client, sales)
    deal = _save(client, deal, sales, priority="A")
    stored = dict(deal.custom)
    before = db.session.query(AuditLog).count()
    resp = client.api("put", f"/api/v1/deal/{deal.id}",
                      json={"custom": {**stored, "direction": ""},
                            "version": deal.version})
    assert resp.status_code == 200, resp.json
    assert db.session.query(AuditLog).count() == before
    assert not [i for i in timeline_for("deal", deal.id) if i.kind == "field"
                and "Направление" in i.text]


def test_automatic_task_is_told_once_in_the_services_words(client, sales):
    deal = _deal(client, sales)
    task = db.session.scalar(select(Task).where(Task.record_entity == "deal",
                                                Task.record_id == deal.id))
    assert task is not None and task.rule_key
    told = [i.text for i in timeline_for("deal", deal.id) if task.title in i.text]
    assert told == [f"Задача «{task.title}» создана автоматически при переходе на этап "
                    "«Новая заявка»"]
    page = _page(client, deal)
    assert page.count(f"Задача «{task.title}» создана") == 1


def test_engine_keys_stay_off_the_history(client, sales):
    deal = _deal(client, sales)
    task = db.session.scalar(select(Task).where(Task.record_entity == "deal",
                                                Task.record_id == deal.id))
    page = _page(client, deal)
    assert task.rule_key not in page and task.transition_id not in page
    resp = client.api("get", f"/api/v1/timeline/deal/{deal.id}")
    assert resp.status_code == 200
    body = resp.get_data(as_text=True)
    assert task.rule_key not in body and task.transition_id not in body
    for item in resp.json["result"]:
        assert not set(item["payload"] or {}) & {"rule", "transition", "rule_key",
                                                 "transition_id", "effect_key"}
    stage = [i for i in resp.json["result"] if i["kind"] == "stage"]
    assert stage and stage[0]["payload"]["to"] == "new"  # the useful part stays
    task_page = client.get(f"/taskview/show/{task.id}").get_data(as_text=True)
    history = task_page.split('id="crm-history"', 1)[-1]
    assert task.rule_key not in history and "rule_key" not in history


# --- the labels ------------------------------------------------------------------------------

def test_domain_labels_live_in_models_labels_and_the_screens_use_them(app):
    from models import labels
    from views import base, deal, event, lead, order

    assert labels.DEAL_LABELS["budget"] == "Бюджет"
    assert base.COMMON_LABELS is labels.COMMON_LABELS
    assert event.EVENT_LABELS is labels.EVENT_LABELS
    assert order.ORDER_LABELS is labels.ORDER_LABELS
    assert deal.DEAL_LABELS.items() >= labels.DEAL_LABELS.items()
    assert lead.LEAD_LABELS.items() >= labels.LEAD_LABELS.items()
    from process.catalog import entity_fields

    assert entity_fields("deal")["budget"] == "Бюджет"


def test_labels_module_imports_neither_views_nor_flask():
    source = (ROOT / "models" / "labels.py").read_text(encoding="utf-8")
    assert "import" not in source.replace("from __future__ import annotations", "")


@pytest.mark.parametrize("path", [str(p.relative_to(ROOT))
                                  for d in ("models", "jobs", "rules", "process",
                                            "process/effects")
                                  for p in sorted((ROOT / d).glob("*.py"))])
def test_code_below_the_views_does_not_import_them(path):
    source = (ROOT / path).read_text(encoding="utf-8")
    assert "from views" not in source and "import views" not in source, path


def test_timeline_labels_need_no_screen():
    """Outside any app (a worker, the engine) a deal's fields still read in Russian."""
    from models.timeline import field_labels

    assert field_labels(Deal)["budget"] == "Бюджет"
    assert field_labels(Deal)["lost_reason"] == "Причина проигрыша"


def test_workers_never_import_the_views_package():
    """A worker process loads the jobs and the process services, never the screens."""
    import subprocess
    import sys

    code = ("import sys, jobs.tasks, jobs.actions, process.service; "
            "print(any(m == 'views' or m.startswith('views.') for m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                         text=True, check=True)
    assert out.stdout.strip() == "False"
