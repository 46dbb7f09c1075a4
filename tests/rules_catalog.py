"""A catalog like the application's, for engine tests that run without Flask.

Field keys and labels are what `process.catalog.entity_fields` gives: the model's attribute
names (a relation without `_id`) with the labels of its views; `contact_rows` of an event is
its contact table («Представление контакта» of the 1C document), `items` the line items."""
from pathlib import Path

from rules.definition import Catalog, load_routes

ROUTES = Path(__file__).resolve().parents[1] / "rules" / "definitions" / "routes"

DEAL_FIELDS = {"title": "Название", "budget": "Бюджет", "company": "Контрагент",
               "contacts": "Контакты", "responsible": "Ответственный", "source": "Источник",
               "lost_reason": "Причина проигрыша", "lost_comment": "Комментарий к причине",
               "observers": "Наблюдатели", "items": "Позиции", "payments": "График платежей",
               "budget_manual": "Бюджет вводится вручную", "closed_at": "Закрыта",
               "created_at": "Создано", "lead": "Из лида"}
LEAD_FIELDS = {"title": "Название", "phone": "Телефон", "email": "E-mail",
               "source": "Источник", "responsible": "Ответственный",
               "company_name": "Компания", "contact_name": "Контактное лицо",
               "company": "Контрагент", "contact": "Контакт",
               "client_activity": "Вид деятельности",
               "activity_other": "Вид деятельности (другое)",
               "quality_reason": "Причина некачественного лида",
               "quality_comment": "Комментарий к причине", "observers": "Наблюдатели",
               "converted_at": "Сконвертирован", "created_at": "Создано"}
EVENT_FIELDS = {"subject": "Краткое описание", "state": "Состояние", "number": "Номер",
                "kind": "Вид", "direction": "Направление", "topic": "Тема",
                "content": "Содержание", "company": "Контрагент",
                "contact_rows": "Контактные лица", "responsible": "Ответственный",
                "started_at": "Начало", "ended_at": "Окончание", "created_at": "Создано",
                "created_by": "Создал", "rejection_reason": "Причина отказа",
                "rejection_comment": "Комментарий к причине отказа"}
ORDER_FIELDS = {"status": "Статус", "total": "Сумма", "number": "Номер", "date": "Дата",
                "company": "Контрагент", "contact": "Контактное лицо",
                "contract": "Договор", "ship_date": "Дата отгрузки", "items": "Позиции",
                "responsible": "Ответственный менеджер", "executor": "Исполнитель",
                "source": "Источник", "requires_approval": "Требует согласования",
                "comment": "Комментарий", "created_at": "Создано", "created_by": "Создал"}
REQUEST_FIELDS = {"title": "Заявка", "responsible": "Сотрудник", "department": "Отдел",
                  "amount": "Сумма", "date_from": "С", "date_to": "По",
                  "created_at": "Создано", "created_by": "Автор"}

CATALOG = Catalog(
    entity_fields={"deal": DEAL_FIELDS, "lead": LEAD_FIELDS, "event": EVENT_FIELDS,
                   "order": ORDER_FIELDS, "request": REQUEST_FIELDS},
    roles=frozenset({"manager", "sales_head", "engineer", "purchaser", "logistician",
                     "production_head", "lawyer", "metrologist", "accountant", "secretary",
                     "designer", "constructor", "executor", "execution_head", "director",
                     "department_head"}),
    reference_lists=frozenset({"lost_reason", "priority", "payment_terms", "lead_source",
                               "rejection_reason", "event_topic", "lead_quality_reason",
                               "client_activity", "delivery_type", "payment_kind",
                               "client_type", "sick_leave_kind", "leave_kind"}),
    entity_stages={"event": frozenset({"planned", "in_progress", "completed"}),
                   "order": frozenset({"request", "open", "agreed", "in_work", "done",
                                       "cancelled"})},
)
CATALOG = Catalog(entity_fields=CATALOG.entity_fields, roles=CATALOG.roles,
                  reference_lists=CATALOG.reference_lists, entity_stages=CATALOG.entity_stages,
                  routes=load_routes(sorted(ROUTES.glob("*.yaml")), CATALOG.roles))
