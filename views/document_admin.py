"""The admin's document settings: «Настройки → Реквизиты компании» (our requisites, logo,
signature and stamp printed on every document) and «Настройки → Шаблоны документов» (the
template versions of each key, their preview on a sample, a new version checked in the
sandbox before it is stored, rollback, a second template of a kind). Neither resource is
given to any role in app/access.yaml: only the admin opens them."""
from __future__ import annotations

import io
import re

from flask import abort, flash, make_response, redirect, request, url_for
from flask_appbuilder import BaseView, expose
from flask_appbuilder.security.decorators import has_access
from PIL import Image, UnidentifiedImageError
from sqlalchemy import select

from app.extensions import db
from documents.kinds import KINDS
from documents.render import render_pdf, shipped_template
from documents.samples import sample_context
from documents.sandbox import TemplateError, check_template
from models.document import CompanyProfile, DocumentTemplate
from models.requisites import (
    any_inn_error, bik_error, correspondent_account_error, email_error, kpp_error, ogrn_error,
    ogrnip_error, settlement_account_error,
)
from views.base import register
from views.csrf import check_csrf, csrf_token
from views.errors import refusing_database_errors

PROFILE_RESOURCE = "company_profile"
TEMPLATE_RESOURCE = "document_template"
IMAGE_MAX_BYTES = 1024 * 1024
IMAGE_KINDS = {"PNG": "image/png", "JPEG": "image/jpeg"}
IMAGES = {"logo": "Логотип", "signature": "Подпись руководителя", "stamp": "Печать"}
VAT_RATES = [("none", "Без НДС"), ("0", "0 %"), ("10", "10 %"), ("20", "20 %"),
             ("22", "22 %")]
# (name, label, required): the order of the form.
PROFILE_FIELDS = [
    ("name", "Краткое наименование", True), ("full_name", "Полное наименование", False),
    ("inn", "ИНН", False), ("kpp", "КПП", False), ("ogrn", "ОГРН / ОГРНИП", False),
    ("address", "Юридический адрес", False), ("city", "Город", False),
    ("phone", "Телефон", False), ("email", "Электронная почта", False),
    ("director", "Руководитель (ФИО)", False), ("director_title", "Должность руководителя",
                                               False),
    ("accountant", "Главный бухгалтер (ФИО)", False), ("bank_name", "Банк", False),
    ("bik", "БИК", False), ("corr_account", "Корреспондентский счёт", False),
    ("account", "Расчётный счёт", False),
]
SOURCE_MAX_BYTES = 512 * 1024


# --- our requisites -----------------------------------------------------------------------

def profile_row() -> CompanyProfile:
    profile = db.session.scalars(select(CompanyProfile).order_by(CompanyProfile.id)).first()
    if profile is None:
        profile = CompanyProfile(name="")
        db.session.add(profile)
        db.session.flush()
    return profile


def profile_errors(values: dict) -> dict[str, str]:
    """The checks of models/requisites.py as field messages; an empty field is allowed
    except the name (a document needs at least who issues it)."""
    errors = {}
    for name, label, required in PROFILE_FIELDS:
        limit = CompanyProfile.__table__.c[name].type.length
        if required and not values[name]:
            errors[name] = f"Заполните поле «{label}»"
        elif limit and len(values[name]) > limit:
            errors[name] = f"«{label}»: не длиннее {limit} знаков"
    checks = {
        "inn": lambda v: any_inn_error(v),
        "kpp": lambda v: kpp_error(v),
        "ogrn": lambda v: ogrnip_error(v) if len(v) == 15 else ogrn_error(v),
        "email": lambda v: email_error(v),
        "bik": lambda v: bik_error(v),
        "corr_account": lambda v: correspondent_account_error(v, values["bik"]),
        "account": lambda v: settlement_account_error(v, values["bik"]),
    }
    for name, check in checks.items():
        if values[name] and name not in errors:
            problem = check(values[name])
            if problem:
                errors[name] = problem
    if values["vat_rate"] not in dict(VAT_RATES):
        errors["vat_rate"] = "Выберите ставку НДС из списка"
    return errors


def read_image(file) -> tuple[bytes, str]:
    """(bytes, content type) of an uploaded PNG or JPEG, judged by its content: a renamed
    file of another kind is refused whatever its name says."""
    data = file.stream.read(IMAGE_MAX_BYTES + 1)
    if not data:
        raise ValueError("Файл пустой")
    if len(data) > IMAGE_MAX_BYTES:
        raise ValueError("Изображение больше 1 МБ: уменьшите его и загрузите снова")
    try:
        with Image.open(io.BytesIO(data)) as image:
            kind = image.format
            image.verify()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        kind = None
    if kind not in IMAGE_KINDS:
        raise ValueError("Загрузите изображение PNG или JPEG: этот файл им не является")
    return data, IMAGE_KINDS[kind]


class CompanyProfileView(BaseView):
    route_base = "/settings/company"
    resource = PROFILE_RESOURCE
    class_permission_name = PROFILE_RESOURCE
    default_view = "edit"
    method_permission_name = {"edit": "read", "save": "write", "image": "read",
                              "remove_image": "write"}
    base_permissions = ["can_read", "can_write"]

    def _page(self, profile, values, errors, status=200):
        return self.render_template(
            "crm/company_profile.html", title="Реквизиты компании", profile=profile,
            values=values, errors=errors, fields=PROFILE_FIELDS, vat_rates=VAT_RATES,
            images=IMAGES, csrf=csrf_token()), status

    @expose("/", methods=["GET"])
    @has_access
    def edit(self):
        profile = profile_row()
        values = {name: getattr(profile, name) or "" for name, _l, _r in PROFILE_FIELDS}
        values["vat_rate"] = profile.vat_rate or "22"
        return self._page(profile, values, {})

    @expose("/", methods=["POST"])
    @has_access
    def save(self):
        check_csrf()
        profile = profile_row()
        values = {name: (request.form.get(name) or "").strip()
                  for name, _l, _r in PROFILE_FIELDS}
        values["vat_rate"] = request.form.get("vat_rate") or ""
        errors = profile_errors(values)
        uploads = {}
        for key, label in IMAGES.items():
            file = request.files.get(key)
            if file is None or not file.filename:
                continue
            try:
                uploads[key] = read_image(file)
            except ValueError as exc:
                errors[key] = f"{label}: {exc}"
        if errors:
            db.session.rollback()
            flash("Реквизиты не сохранены: исправьте отмеченные поля", "danger")
            return self._page(profile, values, errors, 422)
        for name, value in values.items():
            setattr(profile, name, value or None)
        profile.name = values["name"]
        for key, (data, content_type) in uploads.items():
            setattr(profile, key, data)
            setattr(profile, f"{key}_type", content_type)
        with refusing_database_errors():
            db.session.commit()
        flash("Реквизиты компании сохранены", "success")
        return redirect(url_for("CompanyProfileView.edit"))

    @expose("/image/<which>", methods=["GET"])
    @has_access
    def image(self, which):
        if which not in IMAGES:
            abort(404)
        profile = profile_row()
        data = getattr(profile, which)
        if not data:
            abort(404)
        response = make_response(data)
        # Only PNG and JPEG, checked on upload, are stored: safe to show inline.
        response.headers["Content-Type"] = getattr(profile, f"{which}_type") or "image/png"
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Cache-Control"] = "private, no-store"
        return response

    @expose("/image/<which>/remove", methods=["POST"])
    @has_access
    def remove_image(self, which):
        check_csrf()
        if which not in IMAGES:
            abort(404)
        profile = profile_row()
        setattr(profile, which, None)
        setattr(profile, f"{which}_type", None)
        db.session.commit()
        flash(f"{IMAGES[which]}: изображение удалено", "success")
        return redirect(url_for("CompanyProfileView.edit"))


# --- templates ----------------------------------------------------------------------------

_TRANSLIT = dict(zip(
    "абвгдеёжзийклмнопрстуфхцчшщъыьэюя",
    ["a", "b", "v", "g", "d", "e", "e", "zh", "z", "i", "y", "k", "l", "m", "n", "o", "p",
     "r", "s", "t", "u", "f", "kh", "ts", "ch", "sh", "shch", "", "y", "", "e", "yu", "ya"]))


def key_from_name(name: str) -> str:
    """«КП — оптовый» → kp_optovyy: a readable key, unique among the templates."""
    text = "".join(_TRANSLIT.get(ch, ch) for ch in name.lower())
    base = re.sub(r"[^a-z0-9]+", "_", text).strip("_")[:50] or "template"
    key, n = base, 1
    while db.session.scalar(select(DocumentTemplate.id).where(DocumentTemplate.key == key)) \
            or key in KINDS:
        n += 1
        key = f"{base}_{n}"
    return key


def template_keys() -> list[dict]:
    """One line per key: its active version (or the newest when none is active)."""
    rows = db.session.scalars(select(DocumentTemplate).order_by(
        DocumentTemplate.kind, DocumentTemplate.key, DocumentTemplate.version)).all()
    keys: dict[str, dict] = {}
    for row in rows:
        line = keys.setdefault(row.key, {"key": row.key, "versions": 0, "active": None,
                                         "newest": row})
        line["versions"] += 1
        line["newest"] = row
        if row.active:
            line["active"] = row
    for line in keys.values():
        shown = line["active"] or line["newest"]
        line.update(name=shown.name, kind=shown.kind,
                    kind_title=KINDS[shown.kind].title if shown.kind in KINDS else shown.kind)
    return list(keys.values())


def versions_of(key: str) -> list[DocumentTemplate]:
    return list(db.session.scalars(select(DocumentTemplate).where(
        DocumentTemplate.key == key).order_by(DocumentTemplate.version.desc())))


def add_version(key: str, source: str, comment: str | None,
                name: str | None = None, kind: str | None = None) -> DocumentTemplate:
    """A new active version of the key, checked first: TemplateError leaves everything as
    it was."""
    current = versions_of(key)
    kind = kind or current[0].kind
    check_template(source, kind)
    for row in current:
        row.active = False
    row = DocumentTemplate(key=key, kind=kind, name=name or current[0].name,
                           version=1 + max((r.version for r in current), default=0),
                           source=source, active=True, comment=comment or None)
    db.session.add(row)
    return row


def _uploaded_source() -> str | None:
    """The .html file of the form, when one was chosen; ValueError explains a refusal."""
    file = request.files.get("file")
    if file is None or not file.filename:
        return None
    if not file.filename.lower().endswith((".html", ".htm")):
        raise ValueError("Загрузите файл шаблона с расширением .html")
    data = file.stream.read(SOURCE_MAX_BYTES + 1)
    if len(data) > SOURCE_MAX_BYTES:
        raise ValueError("Файл шаблона больше 512 КБ")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ValueError("Файл шаблона должен быть в кодировке UTF-8") from None


def pdf_inline(pdf: bytes, filename: str):
    response = make_response(pdf)
    response.headers["Content-Type"] = "application/pdf"
    response.headers["Content-Disposition"] = f'inline; filename="{filename}"'
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = "private, no-store"
    return response


class DocumentTemplateView(BaseView):
    route_base = "/settings/templates"
    resource = TEMPLATE_RESOURCE
    class_permission_name = TEMPLATE_RESOURCE
    default_view = "list"
    method_permission_name = {"list": "read", "show": "read", "preview": "read",
                              "new_version": "write", "activate": "write",
                              "new_template": "write"}
    base_permissions = ["can_read", "can_write"]

    @expose("/", methods=["GET"])
    @has_access
    def list(self):
        return self.render_template(
            "crm/document_templates.html", title="Шаблоны документов", keys=template_keys(),
            kinds=[(k.key, k.title) for k in KINDS.values()], csrf=csrf_token())

    def _show(self, key, source=None, comment="", error=None, status=200):
        versions = versions_of(key)
        if not versions:
            abort(404)
        active = next((v for v in versions if v.active), None)
        return self.render_template(
            "crm/document_template_show.html", title=f"Шаблон «{versions[0].name}»",
            key=key, versions=versions, active=active,
            kind_title=KINDS[versions[0].kind].title if versions[0].kind in KINDS else "",
            source=source if source is not None else (active or versions[0]).source,
            comment=comment, error=error, csrf=csrf_token()), status

    @expose("/<key>", methods=["GET"])
    @has_access
    def show(self, key):
        return self._show(key)

    @expose("/<key>/preview", methods=["GET"])
    @has_access
    def preview(self, key):
        versions = versions_of(key)
        number = request.args.get("version", type=int)
        chosen = next((v for v in versions if (v.version == number if number else v.active)),
                      None)
        if chosen is None:
            abort(404)
        try:
            pdf = render_pdf(chosen.source, sample_context(chosen.kind))
        except Exception as exc:  # noqa: BLE001 - a stored template that no longer renders
            flash(f"Предпросмотр не сформирован: {exc}", "danger")
            return redirect(url_for("DocumentTemplateView.show", key=key))
        return pdf_inline(pdf, f"preview-{key}-v{chosen.version}.pdf")

    @expose("/<key>/version", methods=["POST"])
    @has_access
    def new_version(self, key):
        check_csrf()
        if not versions_of(key):
            abort(404)
        source = request.form.get("source") or ""
        comment = (request.form.get("comment") or "").strip()[:500]
        try:
            source = _uploaded_source() or source
        except ValueError as exc:
            return self._show(key, source, comment, str(exc), 422)
        if not source.strip():
            return self._show(key, source, comment, "Вставьте текст шаблона или загрузите "
                                                     "файл .html", 422)
        try:
            with refusing_database_errors():
                row = add_version(key, source, comment)
                db.session.commit()
        except TemplateError as exc:
            db.session.rollback()
            return self._show(key, source, comment, template_message(exc), 422)
        flash(f"Сохранена версия {row.version}; она теперь действует", "success")
        return redirect(url_for("DocumentTemplateView.show", key=key))

    @expose("/<key>/activate/<int:version>", methods=["POST"])
    @has_access
    def activate(self, key, version):
        check_csrf()
        versions = versions_of(key)
        chosen = next((v for v in versions if v.version == version), None)
        if chosen is None:
            abort(404)
        for row in versions:
            row.active = row is chosen
        db.session.commit()
        flash(f"Действует версия {version}", "success")
        return redirect(url_for("DocumentTemplateView.show", key=key))

    @expose("/new", methods=["POST"])
    @has_access
    def new_template(self):
        check_csrf()
        kind = request.form.get("kind") or ""
        name = (request.form.get("name") or "").strip()[:200]
        origin = request.form.get("origin") or ""
        if kind not in KINDS:
            flash("Выберите вид документа", "danger")
            return redirect(url_for("DocumentTemplateView.list"))
        if not name:
            flash("Укажите название нового шаблона", "danger")
            return redirect(url_for("DocumentTemplateView.list"))
        base = db.session.scalars(select(DocumentTemplate).where(
            DocumentTemplate.key == (origin or kind), DocumentTemplate.active.is_(True),
            DocumentTemplate.kind == kind)).first()
        source = base.source if base is not None else shipped_template(kind)
        key = key_from_name(name)
        try:
            with refusing_database_errors():
                add_version(key, source, "Копия шаблона «%s»" % (base.name if base else
                                                                KINDS[kind].title),
                            name=name, kind=kind)
                db.session.commit()
        except TemplateError as exc:
            db.session.rollback()
            flash(f"Шаблон не создан: {template_message(exc)}", "danger")
            return redirect(url_for("DocumentTemplateView.list"))
        flash(f"Шаблон «{name}» создан", "success")
        return redirect(url_for("DocumentTemplateView.show", key=key))


def template_message(exc: TemplateError) -> str:
    line, reason = getattr(exc, "line", None), getattr(exc, "reason", None) or str(exc)
    return f"Строка {line}: {reason}" if line else str(reason)


def register_views(appbuilder):
    register(appbuilder, CompanyProfileView, "Реквизиты компании", "Настройки",
             icon="fa-building")
    register(appbuilder, DocumentTemplateView, "Шаблоны документов", "Настройки",
             icon="fa-file-text-o")


__all__ = ["CompanyProfileView", "DocumentTemplateView", "key_from_name", "profile_errors"]
