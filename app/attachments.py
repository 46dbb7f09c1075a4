"""Storage of attached files: checks, disk and metadata.

Files go to UPLOAD_DIR (outside the web root, never served as static files) under a random
name; the user's file name is only metadata, so no name can reach another path. The size is
counted while the stream is copied, so an oversize file is refused without being kept, and a
refused file leaves nothing on disk or in the table."""
from __future__ import annotations

import hashlib
import mimetypes
import os
import re
import secrets
import unicodedata
from pathlib import Path

from flask import current_app
from sqlalchemy import event, select
from sqlalchemy.orm import Session

from app.extensions import db
from errors import UploadRefused
from models.attachment import Attachment
from models.timeline import add_timeline

CHUNK = 64 * 1024
# Session.info key: storage names to remove from disk after the commit.
_DISCARD_KEY = "crm_discard_files"
MAX_NAME_LENGTH = 200
# Characters Windows or shells treat specially, and ASCII control characters.
_UNSAFE = re.compile(r'[<>:"/\\|?*\x00-\x1f\x7f]')
_SPACES = re.compile(r"\s+")


def upload_dir() -> Path:
    path = Path(current_app.config["UPLOAD_DIR"])
    path.mkdir(parents=True, exist_ok=True)
    return path


def max_bytes() -> int:
    return int(current_app.config.get("UPLOAD_MAX_BYTES") or 0)


def allowed_extensions() -> set[str]:
    raw = current_app.config.get("UPLOAD_ALLOWED_EXTENSIONS") or []
    if isinstance(raw, str):
        raw = raw.split(",")
    return {e.strip().lower().lstrip(".") for e in raw if e and e.strip()}


def human_size(size: int) -> str:
    mb = size / 1024 / 1024
    if mb >= 1:
        return f"{mb:.1f} МБ".replace(".", ",")
    return f"{max(size // 1024, 1)} КБ"


def sanitize_filename(name: str | None) -> str:
    """The last path component only, without control and reserved characters, Cyrillic and
    other letters kept: "../../Договор №5.pdf" -> "Договор №5.pdf"."""
    name = unicodedata.normalize("NFC", name or "")
    # Browsers on Windows may send the full path; either separator ends a directory.
    name = re.split(r"[/\\]", name)[-1]
    name = _UNSAFE.sub("_", name)
    name = "".join(ch for ch in name if unicodedata.category(ch)[0] != "C")
    name = _SPACES.sub(" ", name).strip(" .")
    if len(name) > MAX_NAME_LENGTH:
        stem, dot, ext = name.rpartition(".")
        if dot and len(ext) <= 10:
            name = stem[:MAX_NAME_LENGTH - len(ext) - 1].rstrip(" .") + "." + ext
        else:
            name = name[:MAX_NAME_LENGTH]
    return name


def extension_of(name: str) -> str:
    stem, dot, ext = name.rpartition(".")
    return ext.lower() if dot and stem else ""


def check_name(original: str | None) -> str:
    """The sanitised name, or UploadRefused with a Russian sentence."""
    name = sanitize_filename(original)
    if not name:
        raise UploadRefused("Выберите файл для загрузки.")
    ext = extension_of(name)
    allowed = allowed_extensions()
    if not ext or ext not in allowed:
        raise UploadRefused(
            f"Файлы такого типа загружать нельзя{f' (.{ext})' if ext else ''}. "
            f"Разрешены: {', '.join(sorted(allowed))}.")
    return name


def too_large_message() -> str:
    return f"Файл слишком большой: допустимо не больше {human_size(max_bytes())}."


def _content_type(name: str, declared: str | None) -> str:
    """By the extension first: a client's declared type is whatever the client says."""
    guessed, _enc = mimetypes.guess_type(name)
    if guessed:
        return guessed
    declared = (declared or "").split(";")[0].strip()
    if declared and re.fullmatch(r"[\w.+-]+/[\w.+-]+", declared):
        return declared
    return "application/octet-stream"


def path_of(attachment: Attachment) -> Path:
    """The file on disk; refuses a stored name that would leave UPLOAD_DIR."""
    return stored_path(attachment.storage_name)


def stored_path(storage_name: str) -> Path:
    base = upload_dir().resolve()
    path = (base / storage_name).resolve()
    if base not in path.parents:
        raise UploadRefused("Файл недоступен.")
    return path


def save_upload(stream, original_name: str | None, entity: str, record_id: int,
                declared_type: str | None = None, user_id: int | None = None,
                session=None, timeline: bool = True) -> Attachment:
    """Checks and stores one file and adds its row and the timeline entry to the session
    (without the entry when the caller tells the timeline in its own words). The caller
    commits; if the commit fails, it calls `discard_file(attachment)`."""
    if session is None:
        session = db.session
    name = check_name(original_name)
    limit = max_bytes()
    token = secrets.token_hex(16)
    storage_name = f"{token[:2]}/{token}"
    final = upload_dir() / storage_name
    final.parent.mkdir(parents=True, exist_ok=True)
    partial = final.with_name(final.name + ".part")
    digest = hashlib.sha256()
    size = 0
    try:
        with open(partial, "xb") as out:
            while True:
                chunk = stream.read(CHUNK)
                if not chunk:
                    break
                size += len(chunk)
                if limit and size > limit:
                    raise UploadRefused(too_large_message())
                digest.update(chunk)
                out.write(chunk)
        if size == 0:
            raise UploadRefused("Файл пустой: выберите файл с содержимым.")
        os.replace(partial, final)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    attachment = Attachment(entity=entity, record_id=int(record_id), filename=name,
                            storage_name=storage_name, size=size,
                            content_type=_content_type(name, declared_type),
                            sha256=digest.hexdigest())
    if user_id is not None:
        attachment.uploaded_by_id = user_id or None
    try:
        session.add(attachment)
        session.flush()
        if timeline:
            add_timeline(entity, record_id, "file", f"Прикреплён файл «{name}»",
                         payload={"attachment_id": attachment.id, "size": size,
                                  "sha256": attachment.sha256},
                         author_id=user_id, session=session)
            session.flush()
    except BaseException:
        final.unlink(missing_ok=True)
        raise
    return attachment


def delete_attachment(attachment: Attachment, user_id: int | None = None,
                      session=None) -> None:
    """Deletes the row (the file goes after the commit: `discard_file`)."""
    if session is None:
        session = db.session
    add_timeline(attachment.entity, attachment.record_id, "file",
                 f"Удалён файл «{attachment.filename}»",
                 payload={"attachment_id": attachment.id, "deleted": True},
                 author_id=user_id, session=session)
    session.delete(attachment)
    session.flush()


def discard_file(attachment: Attachment) -> None:
    """Removes the bytes of an attachment whose row is gone (or was never committed)."""
    _discard_stored(attachment.storage_name)


def _discard_stored(storage_name: str) -> None:
    try:
        stored_path(storage_name).unlink(missing_ok=True)
    except (OSError, UploadRefused):
        current_app.logger.warning("could not remove attachment file %s", storage_name)


def discard_after_commit(session, storage_names) -> None:
    """The files of attachments a transaction deletes (a purge of the recycle bin) leave the
    disk once it commits; nothing leaves if it rolls back."""
    session.info.setdefault(_DISCARD_KEY, set()).update(storage_names)


def _after_commit(session) -> None:
    # SQLAlchemy tells the release of a savepoint as a commit too: wait for the real one.
    if session.in_nested_transaction():
        return
    names = session.info.pop(_DISCARD_KEY, None)
    if not names:
        return
    # A savepoint rolled back inside the transaction may have kept some of the rows: a
    # file goes only when no row names it any more. A connection of its own: the session
    # may not run SQL in this event.
    table = Attachment.__table__
    with session.get_bind().connect() as conn:
        kept = set(conn.scalars(select(table.c.storage_name)
                                .where(table.c.storage_name.in_(sorted(names)))))
    for name in names - kept:
        _discard_stored(name)


def _after_rollback(session) -> None:
    if not session.in_nested_transaction():
        session.info.pop(_DISCARD_KEY, None)


def install() -> None:
    """Called once by app.listeners.install()."""
    event.listen(Session, "after_commit", _after_commit)
    event.listen(Session, "after_rollback", _after_rollback)


def attachments_of(entity: str, record_id: int, session=None) -> list[Attachment]:
    if session is None:
        session = db.session
    return list(session.scalars(
        select(Attachment).where(Attachment.entity == entity,
                                 Attachment.record_id == int(record_id))
        .order_by(Attachment.uploaded_at.desc(), Attachment.id.desc())))
