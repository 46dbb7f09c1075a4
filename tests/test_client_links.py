"""Client links: a manager makes a link to a ready document; the client opens it without
signing in and sees that document only; openings land on the timeline (one entry per few
minutes) and the first one tells the manager; expired, revoked, forged and unknown tokens
all get the same Russian page."""
from __future__ import annotations

import datetime as dt
import hashlib

import pytest
import time_machine
from sqlalchemy import func, select

from app.attachments import path_of
from app.extensions import db
from models.attachment import Attachment
from models.client_link import ClientLink
from models.document import Document
from models.outbox import OutboxMessage
from models.timeline import TimelineEntry
from process import client_links
from tests.client_link_helpers import LINK_RE, link_to, links_of, rendered

INVALID = "Ссылка недействительна или срок её действия истёк"


def _timeline(deal, start: str) -> list[str]:
    return [t for t in db.session.scalars(select(TimelineEntry.text).where(
        TimelineEntry.entity == "deal", TimelineEntry.record_id == deal.id))
        if t.startswith(start)]


def _notifications(deal) -> list[OutboxMessage]:
    return list(db.session.scalars(select(OutboxMessage).where(
        OutboxMessage.kind == "notification", OutboxMessage.entity == "deal",
        OutboxMessage.record_id == deal.id, OutboxMessage.body.like("Клиент открыл%"))))


def _pdf_of(document) -> bytes:
    return path_of(db.session.get(Attachment, document.latest.attachment_id)).read_bytes()


def test_the_manager_makes_a_link_and_the_client_opens_it(app, login, document_templates):
    deal, document = rendered()
    manager = login("manager")
    page = manager.get(f"/dealview/show/{deal.id}").get_data(as_text=True)
    assert "Ссылки для клиента" in page and "Создать ссылку" in page
    resp = manager.post(f"/crm/client-links/create/{document.id}", data={"days": "10"})
    assert resp.status_code == 302
    [link] = links_of(deal)
    assert link.document_id == document.id
    assert dt.timedelta(days=9, hours=23) < link.expires_at - link.created_at \
        <= dt.timedelta(days=10)
    page = manager.get(f"/dealview/show/{deal.id}").get_data(as_text=True)
    [(link_id, path)] = LINK_RE.findall(page)
    assert int(link_id) == link.id and "Скопировать" in page
    # The token in the URL is not in the table: its hash and the nonce it is derived from
    # with SECRET_KEY are.
    raw = path.split("/c/")[1].rsplit(".", 1)[0]
    assert link.token_hash == hashlib.sha256(raw.encode()).hexdigest()
    assert raw not in (link.token_hash, link.nonce)

    anonymous = login(None)
    resp = anonymous.get(path)
    assert resp.status_code == 200
    html = resp.get_data(as_text=True)
    assert f"Коммерческое предложение № {document.number}" in html and "Скачать" in html
    assert resp.headers["Referrer-Policy"] == "no-referrer"
    assert "noindex" in resp.headers["X-Robots-Tag"]
    assert "no-store" in resp.headers["Cache-Control"]
    # Nothing of the app: no record number, no links into it.
    assert f"/dealview/show/{deal.id}" not in html and "/login" not in html
    assert 'href="/' not in html.replace(f'href="{path}/file', "")
    pdf = anonymous.get(f"{path}/file?download=1")
    assert pdf.status_code == 200 and pdf.data == _pdf_of(document)
    assert pdf.headers["Content-Type"] == "application/pdf"
    assert "attachment" in pdf.headers["Content-Disposition"]
    assert "no-store" in pdf.headers["Cache-Control"] and "private" in pdf.headers[
        "Cache-Control"]
    inline = anonymous.get(f"{path}/file")
    assert inline.status_code == 200 and "attachment" not in inline.headers.get(
        "Content-Disposition", "")


def test_openings_are_told_once_per_few_minutes_and_the_first_tells_the_manager(
        app, login, document_templates):
    deal, document = rendered()
    link, path = link_to(document)
    anonymous = login(None)
    with time_machine.travel(dt.datetime(2026, 11, 30, 11, 5, tzinfo=dt.timezone.utc),
                             tick=False):
        assert anonymous.get(path).status_code == 200
        assert anonymous.get(path).status_code == 200
    opened = _timeline(deal, "Клиент открыл")
    # 11:05 UTC is 14:05 in Moscow: the timeline speaks local time.
    assert opened == [f"Клиент открыл Коммерческое предложение № {document.number} "
                      "30.11 в 14:05"]
    [note] = _notifications(deal)
    assert note.recipients == [deal.responsible_id]
    with time_machine.travel(dt.datetime(2026, 11, 30, 11, 30, tzinfo=dt.timezone.utc),
                             tick=False):
        assert anonymous.get(path).status_code == 200
    assert len(_timeline(deal, "Клиент открыл")) == 2
    assert len(_notifications(deal)) == 1  # only the first opening
    db.session.expire_all()
    link = db.session.get(ClientLink, link.id)
    assert link.open_count == 3 and link.first_opened_at < link.last_opened_at


def test_the_count_of_openings_agrees_with_its_number(app, login, document_templates):
    deal, document = rendered()
    _link, path = link_to(document)
    anonymous = login(None)
    for _ in range(2):
        assert anonymous.get(path).status_code == 200
    page = login("manager").get(f"/dealview/show/{deal.id}").get_data(as_text=True)
    assert "2 раза, последний" in page and "2 раз," not in page


@pytest.mark.parametrize("case", ["expired", "revoked", "tampered", "unknown"])
def test_a_link_that_opens_nothing_gets_the_same_page(app, login, document_templates, case):
    deal, document = rendered()
    link, path = link_to(document)
    status = 410
    if case == "expired":
        link.expires_at = dt.datetime(2020, 1, 1)
    elif case == "revoked":
        manager = login("manager")
        assert manager.post(f"/crm/client-links/{link.id}/revoke").status_code == 302
    elif case == "tampered":
        path, status = path[:-3] + ("AAA" if not path.endswith("AAA") else "BBB"), 404
    else:
        path, status = "/c/" + "x" * 43 + ".abc", 404
    db.session.commit()
    anonymous = login(None)
    for url in (path, f"{path}/file", f"{path}/file?download=1"):
        resp = anonymous.get(url)
        assert resp.status_code == status, (case, url)
        html = resp.get_data(as_text=True)
        assert INVALID in html and "Коммерческое предложение" not in html and "№" not in html
        assert "%PDF" not in html and resp.headers["Referrer-Policy"] == "no-referrer"
    assert _timeline(deal, "Клиент открыл") == [] and _notifications(deal) == []


def test_a_link_to_one_record_never_shows_another_records_files(
        app, login, document_templates):
    deal_a, doc_a = rendered(title="Сделка А")
    deal_b, doc_b = rendered(kind="invoice", title="Сделка Б")
    _link, path = link_to(doc_a)
    anonymous = login(None)
    pdf = anonymous.get(f"{path}/file?download=1").data
    assert pdf == _pdf_of(doc_a) and pdf != _pdf_of(doc_b)
    # The URL names no file: asking for another one by id is not a route at all.
    assert anonymous.get(f"{path}/file/{doc_b.latest.attachment_id}").status_code == 404
    assert anonymous.get(f"{path}/file?id={doc_b.latest.attachment_id}").data == pdf
    html = anonymous.get(path).get_data(as_text=True)
    assert f"№ {doc_b.number} " not in html.replace(f"№ {doc_a.number} ", "") or \
        doc_a.number == doc_b.number
    assert "Сделка Б" not in html and "Сделка А" not in html


@pytest.mark.parametrize("who", ["manager2", "outsider", "logistician"])
def test_who_may_not_write_the_record_cannot_make_or_revoke_links(
        app, login, document_templates, who):
    deal, document = rendered()
    link, _path = link_to(document)
    other = login(who)
    assert other.post(f"/crm/client-links/create/{document.id}").status_code in (403, 404)
    assert other.post(f"/crm/client-links/{link.id}/revoke").status_code in (403, 404)
    assert other.post(f"/crm/client-links/{link.id}/email",
                      data={"email": "x@example.com"}).status_code in (403, 404)
    db.session.expire_all()
    assert db.session.scalar(select(func.count()).select_from(ClientLink)) == 1
    assert db.session.get(ClientLink, link.id).revoked_at is None
    assert db.session.scalar(select(func.count()).select_from(OutboxMessage).where(
        OutboxMessage.kind == "email")) == 0


def test_anonymous_cannot_make_links(app, login, document_templates):
    _deal, document = rendered()
    resp = login(None).post(f"/crm/client-links/create/{document.id}")
    assert resp.status_code == 302 and "/login" in resp.headers["Location"]
    assert db.session.scalar(select(func.count()).select_from(ClientLink)) == 0


def test_the_link_is_mailed_to_the_client_with_the_base_url(app, login, document_templates):
    deal, document = rendered()
    manager = login("manager")
    resp = manager.post(f"/crm/client-links/create/{document.id}",
                        data={"send": "1", "email": "client@example.ru"})
    assert resp.status_code == 302
    [mail] = db.session.scalars(select(OutboxMessage).where(OutboxMessage.kind == "email"))
    assert mail.recipients == ["client@example.ru"]
    base = app.config["BASE_URL"].rstrip("/")
    assert f"{base}/c/" in mail.body
    path = mail.body.split(base)[1].split()[0]
    assert login(None).get(path).status_code == 200
    [link] = links_of(deal)
    # Again from the list, with the token this browser session keeps.
    resp = manager.post(f"/crm/client-links/{link.id}/email", data={"email": "boss@example.ru"})
    assert resp.status_code == 302
    assert db.session.scalar(select(func.count()).select_from(OutboxMessage).where(
        OutboxMessage.kind == "email")) == 2


@pytest.mark.parametrize("days", ["0", "366", "abc"])
def test_a_bad_expiry_is_refused_in_russian(app, login, document_templates, days):
    deal, document = rendered()
    manager = login("manager")
    resp = manager.post(f"/crm/client-links/create/{document.id}", data={"days": days},
                        follow_redirects=True)
    assert "Срок действия ссылки" in resp.get_data(as_text=True)
    assert links_of(deal) == []


def test_an_unrendered_document_gets_no_link(app, login, document_templates):
    deal, document = rendered()
    from process import documents
    documents.regenerate(document)
    db.session.commit()
    db.session.expire_all()
    document = db.session.get(Document, document.id)
    document.versions[0].status = "failed"
    db.session.commit()
    resp = login("manager").post(f"/crm/client-links/create/{document.id}",
                                 follow_redirects=True)
    assert "ещё не сформирован" in resp.get_data(as_text=True)
    assert links_of(deal) == []


def test_the_link_is_shown_again_later_and_a_copy_of_the_database_opens_nothing(
        app, login, document_templates):
    """Another day, another browser: the manager copies or resends the same link. The
    table's nonce without SECRET_KEY (a stolen backup) makes no token that opens it."""
    deal, document = rendered()
    link, path = link_to(document)
    other_session = login("manager")
    page = other_session.get(f"/dealview/show/{deal.id}").get_data(as_text=True)
    assert LINK_RE.findall(page) == [(str(link.id), path)]
    resp = other_session.post(f"/crm/client-links/{link.id}/email",
                              data={"email": "buyer@romashka.ru"})
    assert resp.status_code == 302
    [letter] = db.session.scalars(select(OutboxMessage).where(
        OutboxMessage.kind == "email", OutboxMessage.record_id == deal.id))
    assert letter.recipients == ["buyer@romashka.ru"] and path in letter.body
    with app.test_request_context():
        app.config["SECRET_KEY"], key = "another-secret-key-of-at-least-32-bytes", \
            app.config["SECRET_KEY"]
        try:
            forged = client_links.token_of(db.session.get(ClientLink, link.id))
        finally:
            app.config["SECRET_KEY"] = key
    assert login(None).get(f"/c/{forged}").status_code == 404
