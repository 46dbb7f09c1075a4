"""«Ознакомлен(а)» by the page's form and by the REST API with a bearer token; confirming
twice is harmless; the page's table shows who has and who has not, with dates and the
overdue ones marked; a person the document is not addressed to is refused on the page, the
file download (both ways), the confirmation (both ways) and the API."""
from __future__ import annotations

from urllib.parse import quote

import pytest
import time_machine
from sqlalchemy import select

from app.extensions import db
from models.attachment import Attachment
from process.acknowledgement import NO_ACCESS, NOT_RECIPIENT
from tests.acknowledgement_helpers import (LAUNCH, PDF, launch, only_acknowledgement,
                                           recipients)
from tests.conftest import _forget_user
from tests.process_flow_helpers import msk, utc
from tests.test_security_headers import assert_page_satisfies_csp


@pytest.fixture()
def ack(login):
    """Launched by the sales head on Tuesday to two managers and the engineer."""
    with time_machine.travel(LAUNCH, tick=False):
        assert launch(login("sales_head"), users=["manager", "manager2", "engineer"],
                      link="https://portal.example.ru/docs/5").status_code == 302
    return only_acknowledgement()


def _file(ack) -> Attachment:
    return db.session.scalar(select(Attachment).where(Attachment.entity == "acknowledgement",
                                                      Attachment.record_id == ack.id))


def test_a_recipient_reads_the_document_and_confirms_it_by_the_form(login, ack):
    with time_machine.travel(msk(2026, 12, 2, 11, 30), tick=False):
        manager = login("manager")
        page = manager.get(f"/acknowledgement/show/{ack.id}")
        text = page.get_data(as_text=True)
        assert page.status_code == 200
        assert_page_satisfies_csp(page)
        assert "Прочитать до пятницы" in text and "https://portal.example.ru/docs/5" in text
        assert 'rel="noopener noreferrer nofollow"' in text
        assert "Ознакомлен(а)</button>" in text
        # a recipient sees their own line, not the colleagues' table
        assert "Кто ознакомлен" not in text

        file_url = f"/acknowledgement/{ack.id}/file/{_file(ack).id}"
        assert file_url in text
        download = manager.get(file_url)
        assert download.status_code == 200 and download.data == PDF
        assert quote("Приказ №5.pdf") in download.headers["Content-Disposition"]

        resp = manager.post(f"/acknowledgement/{ack.id}/confirm")
        assert resp.status_code == 302
        after = manager.get(f"/acknowledgement/show/{ack.id}").get_data(as_text=True)
        assert "Ознакомление подтверждено" in after and "Вы ознакомились 02.12.2026 11:30" in after
    assert recipients(ack)["manager"] == utc(2026, 12, 2, 11, 30)

    # again, a day later: harmless, the first time stays
    with time_machine.travel(msk(2026, 12, 3, 9, 0), tick=False):
        again = login("manager").post(f"/acknowledgement/{ack.id}/confirm")
        assert again.status_code == 302
    db.session.expire_all()
    assert recipients(ack)["manager"] == utc(2026, 12, 2, 11, 30)


def test_a_recipient_confirms_through_the_api_with_a_bearer_token(login, ack):
    with time_machine.travel(msk(2026, 12, 2, 15, 0), tick=False):
        engineer = login("engineer")
        listed = engineer.api("get", "/api/v1/acknowledgement/")
        assert listed.status_code == 200
        body = listed.json
        assert body["unconfirmed"] == 1 and body["launched"] == []
        (item,) = body["to_confirm"]
        assert set(item) == {"id", "title", "deadline", "status", "status_label", "author",
                             "created_at", "deadline_passed", "confirmed_at", "overdue"}
        assert item["id"] == ack.id and item["confirmed_at"] is None
        assert item["author"]["name"] == str(ack.author)

        one = engineer.api("get", f"/api/v1/acknowledgement/{ack.id}").json["result"]
        assert one["link"] == "https://portal.example.ru/docs/5" and "recipients" not in one
        (file,) = one["files"]
        assert engineer.api("get", file["download_url"]).data == PDF

        resp = engineer.api("post", f"/api/v1/acknowledgement/{ack.id}/confirm")
        assert resp.status_code == 200, resp.get_data(as_text=True)
        assert resp.json["result"]["already"] is False
        assert resp.json["message"] == "Ознакомление подтверждено"
        again = engineer.api("post", f"/api/v1/acknowledgement/{ack.id}/confirm")
        assert again.status_code == 200 and again.json["result"]["already"] is True
        assert engineer.api("get", "/api/v1/acknowledgement/").json["unconfirmed"] == 0

        author = login("sales_head").api("get", "/api/v1/acknowledgement/").json
        (mine,) = author["launched"]
        assert (mine["recipients"], mine["confirmed"]) == (3, 1)
        table = login("sales_head").api("get", f"/api/v1/acknowledgement/{ack.id}")
        assert {r["user"]["id"]: r["confirmed_at"] is not None
                for r in table.json["result"]["recipients"]}[ack_user_id(ack, "engineer")]
    assert recipients(ack)["engineer"] == utc(2026, 12, 2, 15, 0)


def ack_user_id(ack, username) -> int:
    return next(r.user_id for r in ack.recipients if r.user.username == username)


def test_the_authors_table_shows_who_has_and_who_has_not_with_the_overdue_marked(login, ack):
    with time_machine.travel(msk(2026, 12, 2, 10, 0), tick=False):
        assert login("manager").post(f"/acknowledgement/{ack.id}/confirm").status_code == 302
    with time_machine.travel(msk(2026, 12, 5, 10, 0), tick=False):  # the deadline passed
        assert login("manager2").post(f"/acknowledgement/{ack.id}/confirm").status_code \
            == 302
        for who in ("sales_head", "director", "admin"):
            page = login(who).get(f"/acknowledgement/show/{ack.id}")
            text = page.get_data(as_text=True)
            assert page.status_code == 200, who
            assert "ознакомлены 2 из 3" in text
            row = _row(text, ack_user_id(ack, "manager"))
            assert "Ознакомлен(а) 02.12.2026 10:00" in row and "Просрочено" not in row
            late = _row(text, ack_user_id(ack, "manager2"))
            assert "Ознакомлен(а) 05.12.2026 10:00" in late and "после срока" in late
            missing = _row(text, ack_user_id(ack, "engineer"))
            assert "Не ознакомлен(а)" in missing and "Просрочено" in missing
            assert "crm-overdue" in missing


def _row(html: str, user_id: int) -> str:
    start = html.index(f'id="crm-ack-person-{user_id}"')
    return html[start:html.index("</tr>", start)]


@pytest.mark.parametrize("stranger", ["outsider", "accountant", "sales_head2"])
def test_a_stranger_is_refused_everywhere(login, ack, stranger):
    if stranger == "sales_head2":  # another head: may launch, may not read others' documents
        from tests.factories import make_user

        make_user("sales_head2", ["sales_head"])
    file_id = _file(ack).id
    with time_machine.travel(msk(2026, 12, 2, 10, 0), tick=False):
        client = login(stranger)
        page = client.get(f"/acknowledgement/show/{ack.id}")
        assert page.status_code == 403 and NO_ACCESS in page.get_data(as_text=True)
        download = client.get(f"/acknowledgement/{ack.id}/file/{file_id}")
        assert download.status_code == 403 and download.data != PDF
        # the generic file endpoints do not serve these files at all
        for url in (f"/crm/attachment/download/{file_id}",
                    f"/api/v1/attachment/{file_id}/content",
                    f"/api/v1/attachment/record/acknowledgement/{ack.id}"):
            generic = client.get(url) if url.startswith("/crm") else client.api("get", url)
            assert generic.status_code in (403, 404) and generic.data != PDF, url
        confirm = client.post(f"/acknowledgement/{ack.id}/confirm")
        assert confirm.status_code == 403 and NOT_RECIPIENT in confirm.get_data(as_text=True)
        api = client.api("post", f"/api/v1/acknowledgement/{ack.id}/confirm")
        assert api.status_code == 403 and api.json["message"] == NOT_RECIPIENT
        assert client.api("get", f"/api/v1/acknowledgement/{ack.id}").status_code == 403
        api_file = client.api("get", f"/api/v1/acknowledgement/{ack.id}/file/{file_id}")
        assert api_file.status_code == 403 and api_file.data != PDF
        assert client.api("get", "/api/v1/acknowledgement/").json["to_confirm"] == []
        close = client.post(f"/acknowledgement/{ack.id}/close")
        assert close.status_code in (302, 403)
    db.session.expire_all()
    assert stranger not in recipients(ack) and ack.status == "open"


def test_the_author_may_not_confirm_for_anyone(login, ack):
    resp = login("sales_head").post(f"/acknowledgement/{ack.id}/confirm")
    assert resp.status_code == 403 and NOT_RECIPIENT in resp.get_data(as_text=True)
    assert set(recipients(ack).values()) == {None}


def test_a_file_of_another_record_is_not_served_through_a_document(login, ack):
    other = Attachment(entity="deal", record_id=1, filename="чужое.pdf", storage_name="x/y",
                       size=3, sha256="0" * 64)
    db.session.add(other)
    db.session.commit()
    resp = login("manager").get(f"/acknowledgement/{ack.id}/file/{other.id}")
    assert resp.status_code == 404


def test_anonymous_is_sent_to_login(app, ack):
    http = app.test_client()
    _forget_user()
    assert http.get(f"/acknowledgement/show/{ack.id}").status_code == 302
    _forget_user()
    assert http.post(f"/acknowledgement/{ack.id}/confirm").status_code in (302, 401)
    _forget_user()
    assert http.get("/api/v1/acknowledgement/").status_code == 401
    assert set(recipients(ack).values()) == {None}


def test_closing_stops_the_confirmations_and_the_reminders(login, ack):
    with time_machine.travel(msk(2026, 12, 2, 10, 0), tick=False):
        assert login("manager").post(f"/acknowledgement/{ack.id}/confirm").status_code == 302
        # a recipient may not close it; the author may
        assert login("manager2").post(f"/acknowledgement/{ack.id}/close").status_code \
            in (302, 403)
        db.session.expire_all()
        assert ack.status == "open"
        assert login("sales_head").post(f"/acknowledgement/{ack.id}/close").status_code == 302
        db.session.expire_all()
        assert ack.status == "closed"
        late = login("manager2").post(f"/acknowledgement/{ack.id}/confirm")
        assert late.status_code == 409 and "Ознакомление закрыто" in late.get_data(
            as_text=True)
        # who confirmed before is still told it is done
        assert login("manager").api(
            "post", f"/api/v1/acknowledgement/{ack.id}/confirm").status_code == 200
    from models.schedule import ScheduledAction

    assert {r.status for r in db.session.scalars(select(ScheduledAction))} == {"cancelled"}


def test_the_screens_are_in_russian(login, ack):
    from tests.test_russian_ui import english_words, visible_text

    head = login("sales_head")
    for client, url in ((head, "/acknowledgement/list/"), (head, f"/acknowledgement/show/{ack.id}"),
                        (head, "/acknowledgement/add"),
                        (login("manager"), f"/acknowledgement/show/{ack.id}")):
        page = client.get(url)
        assert page.status_code == 200, url
        assert english_words(visible_text(page.get_data(as_text=True))) == [], url
