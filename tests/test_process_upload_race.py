"""Uploads of the same process arriving together: each installs on top of the one before
it (or finds its text already active), none meets the (key, version) constraint as a 500."""
from __future__ import annotations

import io

from sqlalchemy import select

from app.extensions import db
from models.pipeline import Pipeline
from models.process import ProcessVersion
from tests.helpers import in_threads

TEXT = """key: race
name: Гонка
entity: deal
stages:
  - {{key: new, name: {first}, kind: open}}
  - {{key: won, name: Успешно, kind: won}}
  - {{key: lost, name: Провал, kind: lost}}
"""


def _upload(client, text: str):
    def call():
        data = {"file": (io.BytesIO(text.encode("utf-8")), "race.yaml")}
        resp = client.post("/crm/process/upload/", data=data,
                           content_type="multipart/form-data")
        return resp.status_code
    return call


def test_uploads_of_one_process_at_once_each_install(app, login):
    texts = [TEXT.format(first=name) for name in ("Новая", "Входящая", "Первая", "Старт")]
    codes = in_threads(app, [_upload(login("admin"), text) for text in texts])
    assert codes == [302] * len(texts)
    db.session.expire_all()
    versions = db.session.scalars(select(ProcessVersion).where(
        ProcessVersion.process_key == "race").order_by(ProcessVersion.version)).all()
    assert [v.version for v in versions] == list(range(1, len(texts) + 1))
    assert sum(v.active for v in versions) == 1
    assert len(db.session.scalars(select(Pipeline).where(Pipeline.code == "race")).all()) == 1
