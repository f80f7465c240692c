"""People management on SQLite and PostgreSQL: invitations by email through the SendGrid stub (signed, expiring,
single-use), accept as a new or an existing account, role changes and removal (never the last owner), another
store's ids 404, marketers refused; password change (current one required, other sessions end) and "forgot
password" (the same answer for known and unknown addresses, throttled, single-use expiring links)."""
from __future__ import annotations

import re
import time
from datetime import timedelta

import pytest
import sqlalchemy as sa

from retainful import clock, users
from retainful.extensions import db
from retainful.models import Invitation, Role, User, user_store
from retainful.people import mail as account_mail
from tests.test_admin import PASSWORD, add_user, csrf_token, logged_in, post, text

NEW_PASSWORD = "a much better passphrase"


@pytest.fixture
def mail(app, sendgrid_stub):
    app.config.update(EMAIL_PROVIDER="sendgrid", SENDGRID_API_KEY="SG.k", SENDGRID_API_HOST=sendgrid_stub.base_url)
    app.extensions.pop("retainful.providers", None)
    return sendgrid_stub


@pytest.fixture
def team(app, shop, make_store, mail):
    other = make_store(name="Other Shop", domain="other.example")
    return {"store": shop.store_id, "other": other.store_id,
            "owner": add_user(app, "owner@acme.test", Role.OWNER, [shop.store_id]),
            "marketer": add_user(app, "marketer@acme.test", Role.MARKETER, [shop.store_id]),
            "other_owner": add_user(app, "owner@other.test", Role.OWNER, [other.store_id])}


def sent_mail(stub):
    """Each email SendGrid was asked to send: (to, subject, text)."""
    out = []
    for request in stub.requests:
        body = request.json
        text_part = next(c["value"] for c in body["content"] if c["type"] == "text/plain")
        out.append((body["personalizations"][0]["to"][0]["email"], body["subject"], text_part, body))
    return out


def link_in(stub, kind):
    match = re.search(rf"http://[^ \n]+/admin/{kind}/[A-Za-z0-9._-]+", sent_mail(stub)[-1][2])
    assert match, sent_mail(stub)[-1][2]
    return "/admin" + match.group(0).split("/admin", 1)[1]


def role_in(app, user_id, store_id):
    with app.app_context():
        return users.role_in(db.session.get(User, user_id), store_id)


def members(app, store_id):
    with app.app_context():
        return sorted(db.session.scalars(sa.select(user_store.c.user_id).where(user_store.c.store_id == store_id)))


def invite(app, team, email="new@acme.test", role="agent", client=None):
    client = client or logged_in(app, team["owner"])
    answer = post(client, "/admin/people/invite", {"email": email, "role": role}, token=csrf_token(client, "/admin/people/"))
    return answer


def accept_new(app, path, name="Nia New", password=NEW_PASSWORD, confirm=None):
    client = app.test_client()
    token = csrf_token(client, path)
    return client, client.post(path, data={"csrf_token": token, "name": name, "password": password,
                                           "confirm_password": confirm or password})


# --- invitations -------------------------------------------------------------------------------------------------

def test_an_owner_invites_and_the_new_person_joins_with_that_role(app, team, mail):
    answer = invite(app, team, "New@Acme.test", "agent")
    assert answer.status_code == 302
    (to, subject, body, raw) = sent_mail(mail)[-1]
    assert to == "new@acme.test" and "Acme Mugs" in subject and "as agent" in body
    assert not any(h.get("key") == "List-Unsubscribe" for h in raw.get("headers", []) or []) and \
        "List-Unsubscribe" not in (raw.get("headers") or {})
    path = link_in(mail, "invite")
    page = app.test_client().get(path)
    assert page.status_code == 200 and "Join Acme Mugs" in text(page) and 'id="name"' in text(page)
    client, accepted = accept_new(app, path)
    assert accepted.status_code == 302
    with app.app_context():
        user = users.find_user("new@acme.test")
        assert user.name == "Nia New" and [s.id for s in user.stores] == [team["store"]]
        user_id = user.id
    assert role_in(app, user_id, team["store"]) == "agent"
    assert client.get("/admin/inbox/").status_code == 200  # logged in, as an agent
    assert app.test_client().get(path).status_code == 400  # single use
    assert accept_new(app, path, name="Again")[1].status_code == 400


def test_an_existing_account_logs_in_and_links_the_store(app, team, mail):
    invite(app, team, "owner@other.test", "marketer")
    path = link_in(mail, "invite")
    anonymous = text(app.test_client().get(path))
    assert 'id="login-to-accept"' in anonymous and 'id="name"' not in anonymous
    client = logged_in(app, team["other_owner"])
    assert 'id="accept-button"' in text(client.get(path))
    assert post(client, path, {}, token=csrf_token(client, path)).status_code == 302
    assert role_in(app, team["other_owner"], team["store"]) == "marketer"
    assert role_in(app, team["other_owner"], team["other"]) == "owner"  # still the owner of their own store
    wrong = logged_in(app, team["marketer"])
    invite(app, team, "someone@else.test", "agent")
    other_path = link_in(mail, "invite")
    refused = post(wrong, other_path, {}, token=csrf_token(wrong, other_path))
    assert refused.status_code == 400 and "another email address" in text(refused)


def test_expired_forged_and_revoked_invitations_are_refused(app, team, mail):
    invite(app, team)
    path = link_in(mail, "invite")
    forged = path[:-3] + ("abc" if not path.endswith("abc") else "xyz")
    for bad in (forged, "/admin/invite/nonsense", "/admin/invite/" + "A" * 300):
        assert app.test_client().get(bad).status_code == 400
    clock.advance(timedelta(days=7, seconds=1))
    assert app.test_client().get(path).status_code == 400
    clock.advance(-timedelta(days=7, seconds=1))
    owner = logged_in(app, team["owner"])
    with app.app_context():
        invitation_id = db.session.scalar(sa.select(Invitation.id))
    assert post(owner, f"/admin/people/invitations/{invitation_id}/revoke", {},
                token=csrf_token(owner, "/admin/people/")).status_code == 302
    assert app.test_client().get(path).status_code == 400


@pytest.mark.parametrize("email, role", [("not-an-email", "agent"), ("a@b.test", "admin"), ("a@b.test", ""),
                                         ("a\x00@b.test", "agent"), ("x" * 300 + "@b.test", "agent")])
def test_bad_invitations_are_400_naming_the_field(app, team, mail, email, role):
    answer = invite(app, team, email, role)
    assert answer.status_code == 400
    with app.app_context():
        assert db.session.query(Invitation).count() == 0
    assert mail.requests == []


def test_marketers_and_agents_cannot_manage_people(app, team, mail):
    marketer = logged_in(app, team["marketer"])
    assert marketer.get("/admin/people/").status_code == 403
    token = csrf_token(marketer, "/admin/")
    for path, data in (("/admin/people/invite", {"email": "x@y.test", "role": "owner"}),
                       (f"/admin/people/{team['owner']}/role", {"role": "agent"}),
                       (f"/admin/people/{team['owner']}/remove", {})):
        assert post(marketer, path, data, token=token).status_code == 403
    assert mail.requests == [] and role_in(app, team["owner"], team["store"]) == "owner"


def test_roles_change_and_people_are_removed_but_never_the_last_owner(app, team):
    owner = logged_in(app, team["owner"])
    token = csrf_token(owner, "/admin/people/")
    page = text(owner.get("/admin/people/"))
    assert f'data-user-id="{team["marketer"]}"' in page and "owner@other.test" not in page
    demoted = post(owner, f"/admin/people/{team['owner']}/role", {"role": "marketer"}, token=token)
    assert demoted.status_code == 400 and "only owner" in text(demoted)
    assert post(owner, f"/admin/people/{team['owner']}/remove", {}, token=token).status_code == 400
    assert post(owner, f"/admin/people/{team['marketer']}/role", {"role": "owner"}, token=token).status_code == 302
    assert role_in(app, team["marketer"], team["store"]) == "owner"
    assert post(owner, f"/admin/people/{team['marketer']}/role", {"role": "root"}, token=token).status_code == 400
    assert post(owner, f"/admin/people/{team['marketer']}/remove", {}, token=token).status_code == 302
    assert members(app, team["store"]) == [team["owner"]]
    with app.app_context():
        assert db.session.get(User, team["marketer"]) is not None  # the account stays


def test_another_stores_people_and_invitations_are_404(app, team, mail):
    other_owner = logged_in(app, team["other_owner"])
    invite(app, team)
    with app.app_context():
        invitation_id = db.session.scalar(sa.select(Invitation.id))
    token = csrf_token(other_owner, "/admin/people/")
    for path, data in ((f"/admin/people/{team['marketer']}/role", {"role": "agent"}),
                       (f"/admin/people/{team['marketer']}/remove", {}),
                       (f"/admin/people/{invitation_id}/remove", {}),
                       (f"/admin/people/invitations/{invitation_id}/revoke", {})):
        assert post(other_owner, path, data, token=token).status_code == 404, path
    assert role_in(app, team["marketer"], team["store"]) == "marketer"
    assert members(app, team["store"]) == sorted([team["owner"], team["marketer"]])


# --- passwords -----------------------------------------------------------------------------------------------------

def test_changing_ones_password_needs_the_current_one_and_ends_other_sessions(app, team):
    mine, elsewhere = logged_in(app, team["marketer"]), logged_in(app, team["marketer"])
    token = csrf_token(mine, "/admin/account")
    wrong = post(mine, "/admin/account", {"current_password": "nope", "new_password": NEW_PASSWORD,
                                          "confirm_password": NEW_PASSWORD}, token=token)
    assert wrong.status_code == 400 and "current password" in text(wrong)
    short = post(mine, "/admin/account", {"current_password": PASSWORD, "new_password": "short",
                                          "confirm_password": "short"}, token=token)
    assert short.status_code == 400 and "at least 8" in text(short)
    for hostile in ("bad\x00password", "x" * 1025):
        answer = post(mine, "/admin/account", {"current_password": PASSWORD, "new_password": hostile,
                                               "confirm_password": hostile}, token=token)
        assert answer.status_code == 400
    changed = post(mine, "/admin/account", {"current_password": PASSWORD, "new_password": NEW_PASSWORD,
                                            "confirm_password": NEW_PASSWORD}, token=token)
    assert changed.status_code == 302
    assert mine.get("/admin/").status_code == 200  # this session goes on
    assert elsewhere.get("/admin/").status_code == 302  # the other one is logged out
    with app.app_context():
        assert users.authenticate("marketer@acme.test", NEW_PASSWORD) is not None


def forgot(client, email, settle=True):
    """Ask for a reset link, and (``settle``) wait for the background send of it."""
    answer = client.post("/admin/forgot-password", data={"csrf_token": csrf_token(client, "/admin/forgot-password"),
                                                         "email": email})
    if settle:
        account_mail.settle()
    return answer


def test_a_known_address_is_answered_as_fast_as_an_unknown_one(app, team, mail):
    """The provider's latency must not tell an attacker which addresses have accounts."""
    mail.delay = 1.5
    timings = {}
    for email in ("marketer@acme.test", "nobody@acme.test"):
        client = app.test_client()
        started = time.monotonic()
        assert forgot(client, email, settle=False).status_code == 200
        timings[email] = time.monotonic() - started
    assert timings["marketer@acme.test"] < 1.0, timings  # the send waits for nobody
    account_mail.settle()
    assert [to for to, *_ in sent_mail(mail)] == ["marketer@acme.test"]  # and still happens


def test_forgot_password_answers_the_same_for_known_and_unknown_addresses(app, team, mail):
    known, unknown = forgot(app.test_client(), "marketer@acme.test"), forgot(app.test_client(), "nobody@acme.test")
    assert known.status_code == unknown.status_code == 200

    def body(response):  # the page less its per-session CSRF token
        return re.sub(r'(name="csrf[-_]token" (content|value)=)"[^"]+"', r"\1", text(response))

    assert body(known) == body(unknown)
    assert [to for to, *_ in sent_mail(mail)] == ["marketer@acme.test"]
    odd = forgot(app.test_client(), "no\x00pe@acme.test")
    assert odd.status_code == 200 and len(mail.requests) == 1


def test_a_reset_link_works_once_within_the_hour(app, team, mail):
    forgot(app.test_client(), "marketer@acme.test")
    path = link_in(mail, "reset")
    client = app.test_client()
    assert client.get(path).status_code == 200
    differ = client.post(path, data={"csrf_token": csrf_token(client, path), "new_password": NEW_PASSWORD,
                                     "confirm_password": NEW_PASSWORD + "x"})
    assert differ.status_code == 400
    done = client.post(path, data={"csrf_token": csrf_token(client, path), "new_password": NEW_PASSWORD,
                                   "confirm_password": NEW_PASSWORD})
    assert done.status_code == 302
    with app.app_context():
        assert users.authenticate("marketer@acme.test", NEW_PASSWORD) is not None
    assert app.test_client().get(path).status_code == 400  # used: the password it replaced is gone
    forgot(app.test_client(), "marketer@acme.test")
    late = link_in(mail, "reset")
    clock.advance(timedelta(hours=1, seconds=1))
    assert app.test_client().get(late).status_code == 400
    assert app.test_client().get(late[:-4] + "AAAA").status_code == 400  # forged


def test_forgot_password_is_throttled_alike_for_known_and_unknown(app, team, mail):
    for email in ("marketer@acme.test", "nobody@acme.test"):
        statuses = [forgot(app.test_client(), email).status_code for _ in range(5)]
        assert statuses == [200, 200, 200, 429, 429], (email, statuses)
    assert len(mail.requests) == 3


def test_account_mail_never_logs_the_address(app, team, mail, caplog):
    caplog.set_level("DEBUG")
    invite(app, team, "secret.person@acme.test", "agent")
    forgot(app.test_client(), "marketer@acme.test")
    assert "secret.person" not in caplog.text and "marketer@acme" not in caplog.text
