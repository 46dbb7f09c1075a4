"""`flask crm demo`: realistic Russian demo data, reproducible from a random seed.

Demo users (one per role) share one password: DEMO_PASSWORD from the environment, or a random
one printed once. They are for trying the product, never for production."""
from __future__ import annotations

import datetime as dt
import os
import random
import secrets
from decimal import Decimal

from flask import current_app
from sqlalchemy import func, select

from app.access import access_table
from app.demo_records import (demo_deals, demo_events, demo_leads, demo_moves_summary,
                              demo_orders, demo_tasks)
from app.extensions import db
from models import requisites as rq
from models.base import acting_as, utcnow
from models.document import CompanyProfile
from models.party import Company, Contact
from models.product import Product
from models.user import CrmUser, Department

DEPARTMENTS = {
    "sales": "Отдел продаж",
    "execution": "Отдел исполнения",
    "production": "Производство",
    "design": "Конструкторско-дизайнерский отдел",
    "logistics": "Логистика",
    "accounting": "Бухгалтерия",
    "management": "Дирекция",
}
# role -> (department, login, last name, first name, position)
DEMO_USERS = {
    "secretary": ("management", "secretary", "Орлова", "Анна", "Секретарь"),
    "manager": ("sales", "manager", "Смирнов", "Алексей", "Менеджер по продажам"),
    "sales_head": ("sales", "sales_head", "Кузнецова", "Ольга", "Руководитель отдела продаж"),
    "department_head": ("production", "department_head", "Попов", "Сергей",
                        "Руководитель отдела"),
    "director": ("management", "director", "Волков", "Дмитрий", "Генеральный директор"),
    "accountant": ("accounting", "accountant", "Соколова", "Марина", "Главный бухгалтер"),
    "executor": ("execution", "executor", "Лебедев", "Николай", "Специалист отдела исполнения"),
    "execution_head": ("execution", "execution_head", "Козлова", "Елена",
                       "Руководитель отдела исполнения"),
    "logistician": ("logistics", "logistician", "Новиков", "Игорь", "Логист"),
    "designer": ("design", "designer", "Морозова", "Дарья", "Дизайнер"),
    "constructor": ("design", "constructor", "Петров", "Андрей", "Конструктор"),
    "production_head": ("production", "production_head", "Васильев", "Михаил",
                        "Начальник производства"),
    "lawyer": ("management", "lawyer", "Зайцева", "Татьяна", "Юрист"),
    "engineer": ("production", "engineer", "Павлов", "Виктор", "Инженер"),
    "purchaser": ("logistics", "purchaser", "Семёнов", "Роман", "Закупщик"),
    "metrologist": ("production", "metrologist", "Голубева", "Ирина", "Метролог"),
    "employee": ("production", "employee", "Виноградов", "Денис", "Сотрудник цеха"),
}
HEADS = {"sales": "sales_head", "execution": "execution_head", "production": "production_head",
         "management": "director", "design": "department_head"}
EXTRA_MANAGERS = [("manager2", "Фёдоров", "Константин"), ("manager3", "Михайлова", "Юлия")]

COMPANY_WORDS = ["Альфа", "Вектор", "Гранит", "Спектр", "Меридиан", "Технопарк", "Эко",
                 "Пром", "Строй", "Северный", "Уральский", "Волга", "Кристалл", "Сфера",
                 "Профиль", "Регион", "Авангард", "Континент", "Мастер", "Стандарт"]
COMPANY_TAILS = ["Снаб", "Торг", "Сервис", "Монтаж", "Групп", "Трейд", "Пак", "Маркет",
                 "Инвест", "Логистик"]
CITIES = ["Москва", "Санкт-Петербург", "Екатеринбург", "Казань", "Нижний Новгород",
          "Самара", "Новосибирск", "Краснодар", "Воронеж", "Ярославль"]
STREETS = ["ул. Ленина", "пр-т Мира", "ул. Гагарина", "ул. Садовая", "ул. Советская",
           "ул. Промышленная", "Ленинградский пр-т", "ул. Заводская"]
LAST_NAMES = ["Иванов", "Сидоров", "Белов", "Ковалёв", "Ильин", "Гусев", "Титов", "Крылов",
              "Никитин", "Соловьёв", "Макаров", "Зуев", "Борисов", "Тарасов", "Фролов"]
FIRST_NAMES = ["Александр", "Евгений", "Максим", "Павел", "Артём", "Владимир", "Илья",
               "Кирилл", "Олег", "Станислав"]
MIDDLE_NAMES = ["Александрович", "Сергеевич", "Игоревич", "Викторович", "Андреевич",
                "Петрович"]
POSITIONS = ["Генеральный директор", "Коммерческий директор", "Менеджер по закупкам",
             "Главный инженер", "Начальник отдела снабжения", "Бухгалтер"]
PRODUCTS = [  # name, unit, price, department
    ("Пакет бумажный крафт 220×280", "шт", "12.50", "production"),
    ("Коробка из гофрокартона 400×300×200", "шт", "48.00", "production"),
    ("Контейнер эко для салатов 500 мл", "шт", "9.80", "production"),
    ("Стаканчик бумажный 250 мл", "шт", "3.40", "production"),
    ("Кровать детская «Домик» 80×160", "шт", "54900.00", "production"),
    ("Кровать-чердак «Лесенка»", "шт", "78500.00", "production"),
    ("Дизайн-проект мебели", "услуга", "15000.00", "design"),
    ("Доставка по городу", "рейс", "2500.00", "logistics"),
    ("Монтаж оборудования", "час", "3200.00", "execution"),
    ("Поверка средств измерений", "услуга", "5600.00", "execution"),
]
BIK = "044525225"
CORR = "30101810400000000225"


def _password() -> tuple[str, bool]:
    given = os.environ.get("DEMO_PASSWORD")
    return (given, False) if given else (secrets.token_urlsafe(9), True)


def _departments() -> dict[str, Department]:
    out = {}
    for code, name in DEPARTMENTS.items():
        dep = db.session.scalar(select(Department).where(Department.code == code))
        if dep is None:
            dep = Department(code=code, name=name)
            db.session.add(dep)
        out[code] = dep
    db.session.flush()
    return out


def _users(deps, password) -> tuple[dict[str, CrmUser], int]:
    sm = current_app.appbuilder.sm
    users, created = {}, 0
    rows = [(role, *spec) for role, spec in DEMO_USERS.items()]
    rows += [("manager", "sales", login, last, first, "Менеджер по продажам")
             for login, last, first in EXTRA_MANAGERS]
    for role, dep_code, login, last, first, position in rows:
        user = sm.find_user(username=login)
        if user is None:
            user = sm.add_user(login, first, last, f"{login}@demo.example.ru",
                               [sm.find_role(role)], password=password)
            created += 1
        user = db.session.get(CrmUser, user.id)
        user.department_id = deps[dep_code].id
        user.position = user.position or position
        user.phone = user.phone or f"+7 (495) 123-{45 + len(users):02d}-{10 + len(users):02d}"
        users[login] = user
    for dep_code, login in HEADS.items():
        deps[dep_code].head_id = users[login].id
    db.session.flush()
    return users, created


def _company(rnd: random.Random, index: int) -> Company:
    word = rnd.choice(COMPANY_WORDS) + rnd.choice(COMPANY_TAILS)
    city = rnd.choice(CITIES)
    address = f"г. {city}, {rnd.choice(STREETS)}, д. {rnd.randint(1, 120)}"
    kind = rnd.choices(["legal", "entrepreneur", "person"], weights=[7, 2, 1])[0]
    if kind == "legal":
        region = f"{rnd.randint(10, 79):02d}"
        inn = rq.make_inn(region + f"{rnd.randint(0, 9999999):07d}")
        return Company(
            kind=kind, name=f"ООО «{word}»", full_name=f"Общество с ограниченной "
            f"ответственностью «{word}»", inn=inn, kpp=inn[:4] + "01001",
            ogrn=rq.make_ogrn("1" + f"{rnd.randint(0, 10**11 - 1):011d}"),
            legal_address=address, postal_address=address, bank_name="ПАО Сбербанк",
            bik=BIK, correspondent_account=CORR,
            settlement_account=rq.make_settlement_account(
                "4070281" + f"{rnd.randint(0, 10**12 - 1):012d}", BIK),
            phone=f"+7 ({rnd.randint(800, 999)}) {rnd.randint(100, 999)}-"
                  f"{rnd.randint(10, 99)}-{rnd.randint(10, 99)}",
            email=f"info{index}@{word.lower()}.example.ru")
    last, first = rnd.choice(LAST_NAMES), rnd.choice(FIRST_NAMES)
    middle = rnd.choice(MIDDLE_NAMES)
    inn = rq.make_inn(f"{rnd.randint(10, 79):02d}" + f"{rnd.randint(0, 99999999):08d}")
    if kind == "entrepreneur":
        return Company(kind=kind, name=f"ИП {last} {first[0]}. {middle[0]}.",
                       full_name=f"Индивидуальный предприниматель {last} {first} {middle}",
                       inn=inn, ogrnip=rq.make_ogrnip("3" + f"{rnd.randint(0, 10**13 - 1):013d}"),
                       legal_address=address, bank_name="ПАО Сбербанк", bik=BIK,
                       correspondent_account=CORR,
                       settlement_account=rq.make_settlement_account(
                           "4080281" + f"{rnd.randint(0, 10**12 - 1):012d}", BIK))
    return Company(kind=kind, name=f"{last} {first} {middle}", address=address,
                   passport_series=f"{rnd.randint(10, 99)}{rnd.randint(10, 24)}",
                   passport_number=f"{rnd.randint(0, 999999):06d}")


def _contacts(rnd, company, count) -> list[Contact]:
    out = []
    for i in range(count):
        last = rnd.choice(LAST_NAMES)
        out.append(Contact(
            last_name=last, first_name=rnd.choice(FIRST_NAMES),
            middle_name=rnd.choice(MIDDLE_NAMES), company=company,
            position=rnd.choice(POSITIONS),
            phone=f"+7 (9{rnd.randint(10, 99)}) {rnd.randint(100, 999)}-"
                  f"{rnd.randint(10, 99)}-{rnd.randint(10, 99)}",
            email=f"{last.lower().replace('ё', 'e')}{rnd.randint(1, 99)}@example.ru"
            .encode("ascii", "ignore").decode() or f"contact{i}@example.ru",
            decision_maker=(i == 0)))
    return out


def _products(deps, users) -> list[Product]:
    out = []
    for i, (name, unit, price, dep) in enumerate(PRODUCTS, start=1):
        product = db.session.scalar(select(Product).where(Product.sku == f"DEMO-{i:03d}"))
        if product is None:
            product = Product(name=name, sku=f"DEMO-{i:03d}", unit=unit, price=Decimal(price),
                              department_id=deps[dep].id,
                              responsible_id=users["executor"].id, is_grey=(i % 4 == 0),
                              planned_cost=Decimal(price) * Decimal("0.6"))
            db.session.add(product)
        out.append(product)
    db.session.flush()
    return out


def demo_company_profile() -> str:
    """Our requisites for the documents, unless the admin has already written them."""
    profile = db.session.scalars(select(CompanyProfile).order_by(CompanyProfile.id)).first()
    if profile is None:
        profile = CompanyProfile()
        db.session.add(profile)
    if profile.name:
        return "Реквизиты компании: оставлены как есть"
    profile.name = "ООО «Демо-Офис»"
    profile.full_name = "Общество с ограниченной ответственностью «Демо-Офис»"
    profile.inn = rq.make_inn("770812345")
    profile.kpp, profile.ogrn = "770801001", rq.make_ogrn("102770012345")
    profile.address = "125009, г. Москва, ул. Тверская, д. 7, офис 12"
    profile.city, profile.phone = "Москва", "+7 (495) 123-45-67"
    profile.email, profile.director_title = "office@demo-office.example.ru", "Генеральный директор"
    profile.director, profile.accountant = "Смирнов Алексей Петрович", "Кузнецова Ольга Игоревна"
    profile.bank_name, profile.bik, profile.corr_account = "ПАО Сбербанк", BIK, CORR
    profile.account = rq.make_settlement_account("4070281000000012345", BIK)
    profile.vat_rate = "22"
    return "Реквизиты компании: заполнены демо-данными"


# The record sections, in order (each fn(ctx) -> a summary line): leads before deals, so a
# converted lead's deal is there; tasks and payments need the deals.
SECTIONS = [demo_leads, demo_deals, demo_tasks, demo_events, demo_orders, demo_moves_summary]


def load_demo(deals: int = 40, random_seed: int = 2026) -> list[str]:
    rnd = random.Random(random_seed)
    password, generated = _password()
    lines = []
    with acting_as(None):
        deps = _departments()
        users, created = _users(deps, password)
        lines.append(f"Пользователи: создано {created} (по одному на роль)")
        if created and generated:
            lines.append(f"Пароль демо-пользователей: {password} (показан один раз)")
        start = db.session.scalar(select(func.count(Company.id))) or 0
        companies = []
        for i in range(max(deals // 2, 5)):
            company = _company(rnd, start + i)
            company.responsible_id = rnd.choice(
                [users["manager"], users["manager2"], users["manager3"]]).id
            db.session.add(company)
            db.session.add_all(_contacts(rnd, company, rnd.randint(1, 3)))
            companies.append(company)
        db.session.flush()
        products = _products(deps, users)
        lines.append(f"Контрагенты: {len(companies)}, номенклатура: {len(products)}")
        lines.append(demo_company_profile())
        ctx = {"rnd": rnd, "users": users, "deps": deps, "companies": companies,
               "products": products, "deals": deals, "now": utcnow(),
               "today": dt.date.today()}
        for section in SECTIONS:
            lines.append(section(ctx))
        db.session.commit()
    return lines


def role_logins() -> dict[str, str]:
    """role -> demo login (README and tests)."""
    return {role: spec[1] for role, spec in DEMO_USERS.items()
            if role in access_table().roles}
