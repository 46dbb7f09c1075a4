"""Russian labels of the domain's fields: one place for the screens, the process engine's
catalog, the timeline and the audit log. Plain dicts only, so any layer (models, rules,
workers) may read them without pulling in Flask or the views."""
from __future__ import annotations

# Labels shared by many entities; an entity's own dict adds or overrides.
COMMON_LABELS = {
    "id": "№", "name": "Наименование", "title": "Название", "code": "Код",
    "label": "Значение", "active": "Активен", "sort_order": "Порядок",
    "created_at": "Создано", "updated_at": "Изменено", "created_by": "Создал",
    "responsible": "Ответственный", "observers": "Наблюдатели", "comment": "Комментарий",
    "description": "Описание", "company": "Контрагент", "contact": "Контакт",
    "contacts": "Контакты", "department": "Отдел", "phone": "Телефон", "email": "E-mail",
    "status": "Статус", "amount": "Сумма", "price": "Цена", "quantity": "Количество",
    "product": "Номенклатура", "date": "Дата", "number": "Номер", "version": "Версия",
    "record_entity": "Основание (тип)", "record_id": "Основание (№)",
}

DEAL_LABELS = {
    "title": "Название", "pipeline": "Воронка", "stage": "Этап",
    "stage_entered_at": "На этапе с", "budget": "Бюджет",
    "budget_manual": "Бюджет вводится вручную", "source": "Источник",
    "lost_reason": "Причина проигрыша", "lost_comment": "Комментарий к причине проигрыша",
    "closed_at": "Закрыта", "lead": "Из лида", "custom": "Дополнительные поля",
    "custom_display": "Дополнительные поля", "custom_list": "Дополнительные поля",
    "items": "Позиции", "payments": "График платежей",
}

DEAL_ITEM_LABELS = {
    "deal": "Сделка", "product": "Номенклатура", "name": "Наименование", "unit": "Ед. изм.",
    "quantity": "Количество", "price": "Цена", "amount": "Сумма", "department": "Отдел",
    "responsible": "Исполнитель", "is_grey": "Серый", "grey_label": "Учёт",
}

PAYMENT_LABELS = {
    "deal": "Сделка", "percent": "Процент", "amount": "Сумма",
    "planned_date": "Плановая дата", "paid_date": "Дата оплаты", "note": "Примечание",
}

LEAD_LABELS = {
    "title": "Название", "pipeline": "Воронка", "stage": "Этап",
    "stage_entered_at": "На этапе с", "source": "Источник", "company_name": "Компания",
    "company_full_name": "Полное наименование", "inn": "ИНН",
    "contact_name": "Контактное лицо", "company": "Контрагент", "contact": "Контакт",
    "client_activity": "Вид деятельности", "activity_other": "Вид деятельности (другое)",
    "quality_reason": "Причина некачественного лида",
    "quality_comment": "Комментарий к причине", "custom": "Дополнительные поля",
    "custom_display": "Дополнительные поля", "converted_at": "Сконвертирован",
}

REQUEST_LABELS = {
    "title": "Заявка", "pipeline": "Вид заявки", "stage": "Этап",
    "stage_entered_at": "На этапе с", "responsible": "Сотрудник", "department": "Отдел",
    "amount": "Сумма", "date_from": "С", "date_to": "По", "custom": "Дополнительные поля",
    "custom_display": "Дополнительные поля", "created_by": "Автор",
}

EVENT_LABELS = {
    "number": "Номер", "number_label": "Номер", "kind": "Вид", "kind_label": "Вид",
    "direction": "Направление", "direction_label": "Направление", "topic": "Тема",
    "subject": "Краткое описание", "state": "Состояние", "state_label": "Состояние",
    "started_at": "Начало", "ended_at": "Окончание", "company": "Контрагент",
    "content": "Содержание", "responsible": "Ответственный", "created_by": "Создал",
    "record_ref": "Создано на основании", "record_entity": "Основание (тип записи)",
    "record_id": "Основание (№ записи)", "contact_rows": "Контактные лица",
    "rejection_reason": "Причина отказа", "rejection_comment": "Комментарий к причине отказа",
}

ORDER_LABELS = {
    "number": "Номер", "date": "Дата", "company": "Контрагент", "contact": "Контактное лицо",
    "contract": "Договор", "ship_date": "Дата отгрузки", "status": "Статус",
    "status_label": "Статус", "total": "Сумма заказа", "responsible": "Ответственный менеджер",
    "executor": "Исполнитель", "source": "Источник", "requires_approval": "Требует согласования",
    "comment": "Комментарий", "items": "Позиции", "created_by": "Создал",
    "record_entity": "Основание (тип)", "record_id": "Основание (№)",
}

ORDER_ITEM_LABELS = {
    "order": "Заказ", "product": "Номенклатура", "name": "Наименование", "unit": "Ед. изм.",
    "quantity": "Количество", "price": "Цена", "amount": "Сумма",
    "department": "Подразделение", "responsible": "Ответственный исполнитель",
    "is_grey": "Учёт: серый", "grey_label": "Учёт (серый/белый)",
    "planned_cost": "Плановая себестоимость", "planned_hours": "Плановое время, ч",
}

TASK_LABELS = {
    "title": "Задача", "description": "Описание", "assignee": "Исполнитель",
    "creator": "Постановщик", "observers": "Наблюдатели", "deadline": "Срок",
    "remind_at": "Напомнить",
    "status": "Статус", "status_label": "Статус", "result": "Результат выполнения",
    "outcome": "Итог", "outcome_choices": "Варианты итога", "closed_at": "Закрыта",
    "record_ref": "Относится к", "record_entity": "Относится к (тип записи)",
    "record_id": "Относится к (№ записи)", "overdue_label": "Просрочка",
    "checklist_progress": "Чек-лист", "is_overdue": "Просрочена",
    "created_by": "Создал",
}

COMPANY_LABELS = {
    "kind": "Вид", "kind_label": "Вид", "name": "Краткое наименование",
    "full_name": "Полное наименование", "inn": "ИНН", "kpp": "КПП", "ogrn": "ОГРН",
    "ogrnip": "ОГРНИП", "legal_address": "Юридический адрес",
    "postal_address": "Почтовый адрес", "bank_name": "Банк", "bik": "БИК",
    "settlement_account": "Расчётный счёт", "correspondent_account": "Корреспондентский счёт",
    "passport_series": "Серия паспорта", "passport_number": "Номер паспорта",
    "address": "Адрес", "website": "Сайт", "note": "Примечание",
}

PRODUCT_LABELS = {
    "name": "Наименование", "sku": "Артикул", "unit": "Ед. изм.", "price": "Цена",
    "vat_rate": "Ставка НДС", "vat_label": "Ставка НДС", "department": "Подразделение",
    "responsible": "Ответственный исполнитель", "is_grey": "Учёт: серый",
    "grey_label": "Учёт (серый/белый)", "planned_cost": "Плановая себестоимость",
    "planned_hours": "Плановое время, ч", "active": "Активна", "description": "Описание",
}

REFERENCE_ITEM_LABELS = {
    "list": "Справочник", "code": "Код", "label": "Значение", "sort_order": "Порядок",
    "active": "Активен", "is_other": "«Другое» (с пояснением)",
}

DEPARTMENT_LABELS = {
    "code": "Код", "name": "Наименование", "head": "Руководитель", "active": "Активен",
    "users": "Сотрудники",
}

USER_LABELS = {
    "first_name": "Имя", "last_name": "Фамилия", "username": "Логин", "password": "Пароль",
    "conf_password": "Пароль ещё раз", "active": "Активен", "email": "E-mail",
    "roles": "Роли", "groups": "Группы", "position": "Должность", "phone": "Телефон",
    "department": "Отдел", "last_login": "Последний вход", "login_count": "Входов",
    "fail_login_count": "Неудачных входов", "created_on": "Создан", "changed_on": "Изменён",
    "created_by": "Создал", "changed_by": "Изменил", "get_full_name": "ФИО",
    "notify_email": "Дублировать уведомления на e-mail", "deputy": "Заместитель",
}

ABSENCE_LABELS = {
    "user": "Сотрудник", "kind": "Вид", "kind_label": "Вид", "date_from": "С",
    "date_to": "По (включительно)", "period_label": "Период", "comment": "Комментарий",
    "source_entity": "Заявка (тип)", "source_id": "Заявка (№)", "source_label": "Основание",
    "days": "Календарных дней", "created_by": "Внёс",
}

LEAVE_BALANCE_LABELS = {
    "user": "Сотрудник", "year": "Год", "days_per_year": "Дней отпуска в году",
    "carried_over": "Перенесено с прошлых лет", "adjustment": "Корректировка",
    "used": "Использовано", "remaining": "Остаток", "comment": "Комментарий",
}

PIPELINE_LABELS = {
    "code": "Код", "name": "Название", "entity": "Раздел", "entity_label": "Раздел",
    "active": "Активна", "sort_order": "Порядок", "stages": "Этапы", "fields": "Поля",
}

STAGE_LABELS = {
    "pipeline": "Воронка", "key": "Ключ", "name": "Название", "kind": "Тип",
    "kind_label": "Тип", "color": "Цвет", "deadline": "Срок на этапе", "sort_order": "Порядок",
}

CUSTOM_FIELD_LABELS = {
    "pipeline": "Воронка", "key": "Ключ", "label": "Подпись", "type": "Тип",
    "type_label": "Тип", "reference_list": "Справочник (код)",
    "allow_other": "Разрешить своё значение", "required": "Обязательное",
    "sort_order": "Порядок",
}

SCHEDULE_LABELS = {
    "id": "№", "action": "Действие", "status": "Статус", "entity": "Тип записи",
    "record_id": "№ записи", "schedule_record_ref": "Запись", "due_at": "Срок выполнения",
    "attempts": "Попыток", "last_error": "Последняя ошибка", "error_brief": "Последняя ошибка",
    "enqueued_at": "Передано в очередь", "next_attempt_at": "Следующая попытка",
    "done_at": "Выполнено", "occurrence": "Номер повтора", "params": "Параметры",
    "stage_key": "Этап", "outlives_stage": "Действует после ухода с этапа",
    "rule_key": "Правило", "transition_id": "Переход", "effect_key": "Ключ действия",
    "created_at": "Создано",
}

OUTBOX_LABELS = {
    "id": "№", "kind": "Вид", "status": "Статус", "recipients": "Получатели",
    "recipients_text": "Получатели", "subject": "Тема", "body": "Текст",
    "record_ref": "Запись", "entity": "Тип записи", "record_id": "№ записи",
    "created_at": "Создано", "sent_at": "Отправлено", "attempts": "Попыток",
    "last_error": "Последняя ошибка", "attachments_text": "Вложения",
    "rule_key": "Правило процесса", "delivered_via": "Канал доставки",
    "enqueued_at": "Передано в очередь", "next_attempt_at": "Следующая попытка",
}

CONTACT_LABELS = {
    "last_name": "Фамилия", "first_name": "Имя", "middle_name": "Отчество",
    "full_name": "ФИО", "position": "Должность",
    "phone_extra": "Доп. телефон", "email_extra": "Доп. e-mail",
    "decision_maker": "ЛПР", "note": "Примечание",
}

EVENT_CONTACT_LABELS = {
    "event": "Событие", "contact": "Контактное лицо",
    "how_to_reach": "Как связаться (телефон, e-mail)", "note": "Примечание",
}

REFERENCE_LIST_LABELS = {
    "name": "Наименование", "code": "Код",
    "allow_other": "Есть «Другое» с пояснением", "items": "Значения",
}

# Entity key (a model's __entity__) -> its own labels.
ENTITY_LABELS: dict[str, dict[str, str]] = {
    "deal": DEAL_LABELS, "deal_item": DEAL_ITEM_LABELS, "payment_schedule": PAYMENT_LABELS,
    "lead": LEAD_LABELS, "event": EVENT_LABELS, "request": REQUEST_LABELS, "order": ORDER_LABELS,
    "order_item": ORDER_ITEM_LABELS, "task": TASK_LABELS, "company": COMPANY_LABELS,
    "product": PRODUCT_LABELS, "reference_item": REFERENCE_ITEM_LABELS,
    "department": DEPARTMENT_LABELS, "user": USER_LABELS, "pipeline": PIPELINE_LABELS,
    "stage": STAGE_LABELS, "custom_field_def": CUSTOM_FIELD_LABELS,
    "scheduled_action": SCHEDULE_LABELS, "outbox_message": OUTBOX_LABELS,
    "contact": CONTACT_LABELS, "event_contact": EVENT_CONTACT_LABELS,
    "reference_list": REFERENCE_LIST_LABELS, "absence": ABSENCE_LABELS,
    "leave_balance": LEAVE_BALANCE_LABELS,
}


def labels_for(entity: str | None) -> dict[str, str]:
    """The shared labels overlaid with the entity's own (an unknown entity: shared only)."""
    return {**COMMON_LABELS, **ENTITY_LABELS.get(entity or "", {})}
