"""A catalog like the application's, for engine tests that run without Flask."""
from rules.definition import Catalog

DEAL_FIELDS = {"title": "Название", "budget": "Бюджет", "company": "Контрагент",
               "contacts": "Контакты", "responsible": "Ответственный", "source": "Источник",
               "lost_reason": "Причина проигрыша", "lost_comment": "Комментарий к причине",
               "observers": "Наблюдатели"}
CATALOG = Catalog(
    entity_fields={"deal": DEAL_FIELDS, "lead": {"title": "Название", "phone": "Телефон"},
                   "event": {"subject": "Тема", "state": "Состояние"},
                   "order": {"status": "Статус", "total": "Сумма"}},
    roles=frozenset({"manager", "sales_head", "engineer", "purchaser", "logistician",
                     "production_head", "lawyer", "metrologist", "accountant", "secretary",
                     "designer", "constructor", "executor", "execution_head", "director"}),
    reference_lists=frozenset({"lost_reason", "priority", "payment_terms", "lead_source",
                               "rejection_reason", "event_topic", "lead_quality_reason",
                               "client_activity", "delivery_type", "payment_kind"}),
)
