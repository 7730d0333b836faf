"""A ticket: the conversation (internal notes labelled in words), the composer with
attachments, status, priority and tags, SLA clocks with history, the routing explanation."""

import base64

import httpx
from agent_fakes import AGENT_ID, agent_of, at, json_body, running, ticket
from workspace_support import FakeServices, csrf_of, sign_in, workspace

TICKET = "t-1"


def a_ticket(fake: FakeServices, **fields: object) -> dict[str, object]:
    """Intake, escalation and routing know ticket ``t-1``; returns the person signed in."""
    ada = fake.person("ada@acme.example", name="Ada Lovelace")
    agent_of(fake, ada)
    fake.route(
        "GET",
        "intake",
        f"/v1/tickets/{TICKET}",
        lambda request: ticket(
            TICKET, "Nightly export fails", sla={"first_response": running(3)}, **fields
        ),
    )
    fake.route(
        "GET",
        "intake",
        f"/v1/tickets/{TICKET}/messages",
        lambda request: [
            {
                "id": "m-1",
                "ticket_id": TICKET,
                "author_role": "agent",
                "author_id": ada["user_id"],
                "public": False,
                "channel": "api",
                "body": "Customer is on 4.2, check the logs",
                "html": None,
                "auto_reply": False,
                "email_message_id": None,
                "created_at": at(minutes=-30),
                "attachments": [
                    {
                        "id": "a-1",
                        "filename": "export.log",
                        "content_type": "text/plain",
                        "size": 12,
                        "sha256": "x",
                        "inline": False,
                        "url": f"/v1/tickets/{TICKET}/messages/m-1/attachments/a-1",
                    }
                ],
            },
            {
                "id": "m-2",
                "ticket_id": TICKET,
                "author_role": "agent",
                "author_id": ada["user_id"],
                "public": True,
                "channel": "api",
                "body": "We are looking into it",
                "html": None,
                "auto_reply": False,
                "email_message_id": None,
                "created_at": at(minutes=-10),
                "attachments": [],
            },
        ],
    )
    fake.route(
        "GET",
        "escalation",
        f"/v1/tickets/{TICKET}/sla",
        lambda request: {
            "ticket_id": TICKET,
            "metrics": {
                "first_response": {
                    "state": "running",
                    "target_seconds": 14400,
                    "elapsed_business_seconds": 3600,
                    "paused_seconds": 0,
                    "started_at": at(hours=-1),
                    "deadline": at(hours=3),
                    "stopped_at": None,
                    "breached_at": None,
                    "cycle": 1,
                    "policy_id": "default",
                    "policy_version": 1,
                    "calendar": "always_open",
                    "history": [
                        {"at": at(hours=-1), "event": "started", "detail": "ticket created"},
                        {"at": at(minutes=-20), "event": "warned", "detail": "1 h left"},
                    ],
                }
            },
        },
    )
    fake.route(
        "GET",
        "routing",
        f"/v1/tickets/{TICKET}/routing",
        lambda request: {
            "ticket_id": TICKET,
            "state": "assigned",
            "agent_id": AGENT_ID,
            "offer_id": None,
            "priority": "normal",
            "queued_at": at(hours=-1),
            "queue_reason": "",
            "rule_id": "default",
            "rule_version": 0,
            "required_skills": {"exports": 1},
            "optional_skills": {},
            "relaxed_skills": [],
            "teams": [],
            "excluded_agents": [],
            "history": [
                {
                    "at": at(hours=-1),
                    "kind": "assigned",
                    "summary": f"assigned to {AGENT_ID}: highest skill score",
                    "detail": {
                        "candidates": [
                            {"agent_id": AGENT_ID, "outcome": "won"},
                            {"agent_id": "agt_bob", "outcome": "lost: lower skill"},
                        ]
                    },
                }
            ],
        },
    )
    return ada


def test_the_ticket_shows_the_customer_message_replies_and_notes_labelled_in_words() -> None:
    fake = FakeServices()
    a_ticket(fake)
    with workspace(fake) as client:
        sign_in(client, "ada@acme.example")
        page = client.get(f"/tickets/{TICKET}")
        assert page.status_code == 200
        text = page.text
        assert "<h1>Nightly export fails</h1>" in text
        assert "It stops halfway." in text  # the customer's request (an API ticket)
        assert text.index("It stops halfway.") < text.index("Customer is on 4.2")
        note = text[text.index('class="message note"') : text.index("Customer is on 4.2")]
        assert "Internal note" in note and "not sent to the customer" in note
        reply = text[text.index('class="message reply"') :]
        assert "Public reply" in reply[:400]
        assert "Ada Lovelace" in note  # the author by name
        assert f'href="/tickets/{TICKET}/messages/m-1/attachments/a-1"' in text
        assert 'name="kind" value="note"' in text and 'enctype="multipart/form-data"' in text
        assert 'hx-trigger="live-ticket from:body" hx-select="#conversation"' in text


def test_the_sla_clocks_show_their_history_and_routing_explains_itself() -> None:
    fake = FakeServices()
    a_ticket(fake)
    with workspace(fake) as client:
        sign_in(client, "ada@acme.example")
        text = client.get(f"/tickets/{TICKET}").text
        assert "First response: 3 h 00 min left" in text
        assert "History of first response" in text
        assert "<strong>warned</strong>: 1 h left" in text
        assert "assigned to Ada Lovelace: highest skill score" in text
        assert "agt_bob: lost: lower skill" in text  # unknown agents keep their id
        assert "exports ≥ 1" in text


def test_clocks_and_routing_that_do_not_exist_yet_are_said_plainly() -> None:
    fake = FakeServices()
    a_ticket(fake)
    fake.route(
        "GET",
        "escalation",
        f"/v1/tickets/{TICKET}/sla",
        lambda request: httpx.Response(404, json={"detail": "ticket not found"}),
    )
    fake.route(
        "GET",
        "routing",
        f"/v1/tickets/{TICKET}/routing",
        lambda request: httpx.Response(503, json={"detail": "down"}),
    )
    with workspace(fake) as client:
        sign_in(client, "ada@acme.example")
        page = client.get(f"/tickets/{TICKET}")
        assert page.status_code == 200
        assert "No SLA clock runs for this ticket." in page.text
        assert "The routing explanation could not be loaded" in page.text


def test_an_older_history_shape_still_renders() -> None:
    fake = FakeServices()
    a_ticket(fake)
    fake.route(
        "GET",
        "escalation",
        f"/v1/tickets/{TICKET}/sla",
        lambda request: {
            "ticket_id": TICKET,
            "metrics": {
                "resolution": {
                    "state": "paused",
                    "deadline": at(hours=5),
                    "started_at": at(hours=-1),
                    "history": [{"at": at(hours=-1), "what": "paused", "reason": "status pending"}],
                }
            },
        },
    )
    with workspace(fake) as client:
        sign_in(client, "ada@acme.example")
        text = client.get(f"/tickets/{TICKET}").text
        assert "<strong>paused</strong>: status pending" in text


def test_a_reply_with_an_attachment_goes_to_intake_and_comes_back_with_reply_sent() -> None:
    fake = FakeServices()
    a_ticket(fake)
    fake.route(
        "POST",
        "intake",
        f"/v1/tickets/{TICKET}/messages",
        lambda request: httpx.Response(201, json={"id": "m-3"}),
    )
    with workspace(fake) as client:
        sign_in(client, "ada@acme.example")
        token = csrf_of(client, f"/tickets/{TICKET}")
        answer = client.post(
            f"/tickets/{TICKET}/messages",
            data={"csrf_token": token, "kind": "reply", "body": "Restart the export service"},
            files=[("attachments", ("fix.txt", b"restart it", "text/plain"))],
        )
        assert (answer.status_code, answer.headers["location"]) == (303, f"/tickets/{TICKET}")
        [sent] = [c for c in fake.calls if c.method == "POST" and c.service == "intake"]
        assert json_body(sent.request) == {
            "body": "Restart the export service",
            "public": True,
            "attachments": [
                {
                    "filename": "fix.txt",
                    "content_type": "text/plain",
                    "content_base64": base64.b64encode(b"restart it").decode(),
                }
            ],
        }
        assert "Reply sent" in client.get(f"/tickets/{TICKET}").text


def test_an_internal_note_is_sent_as_not_public() -> None:
    fake = FakeServices()
    a_ticket(fake)
    fake.route(
        "POST",
        "intake",
        f"/v1/tickets/{TICKET}/messages",
        lambda request: httpx.Response(201, json={"id": "m-3"}),
    )
    with workspace(fake) as client:
        sign_in(client, "ada@acme.example")
        token = csrf_of(client, f"/tickets/{TICKET}")
        client.post(
            f"/tickets/{TICKET}/messages",
            data={"csrf_token": token, "kind": "note", "body": "Only for us"},
        )
        [sent] = [c for c in fake.calls if c.method == "POST" and c.service == "intake"]
        assert json_body(sent.request) == {
            "body": "Only for us",
            "public": False,
            "attachments": [],
        }
        assert "Internal note added" in client.get(f"/tickets/{TICKET}").text


def test_an_empty_message_or_a_refusal_keeps_the_draft_beside_the_error() -> None:
    fake = FakeServices()
    a_ticket(fake)
    fake.route(
        "POST",
        "intake",
        f"/v1/tickets/{TICKET}/messages",
        lambda request: httpx.Response(
            409, json={"detail": "ticket_id: the ticket is closed; open a new one"}
        ),
    )
    with workspace(fake) as client:
        sign_in(client, "ada@acme.example")
        token = csrf_of(client, f"/tickets/{TICKET}")
        empty = client.post(
            f"/tickets/{TICKET}/messages",
            data={"csrf_token": token, "kind": "reply", "body": "   "},
        )
        assert empty.status_code == 422
        assert "Write a message before sending." in empty.text
        assert not [c for c in fake.calls if c.method == "POST" and c.service == "intake"]
        refused = client.post(
            f"/tickets/{TICKET}/messages",
            data={"csrf_token": token, "kind": "note", "body": "My draft"},
        )
        assert refused.status_code == 422
        assert "the ticket is closed; open a new one" in refused.text
        assert ">My draft</textarea>" in refused.text
        assert 'value="note" checked' in refused.text


def test_the_composer_needs_the_csrf_token() -> None:
    fake = FakeServices()
    a_ticket(fake)
    with workspace(fake) as client:
        sign_in(client, "ada@acme.example")
        answer = client.post(
            f"/tickets/{TICKET}/messages",
            data={"csrf_token": "forged", "body": "hi"},
            files=[("attachments", ("a.txt", b"a", "text/plain"))],
        )
        assert answer.status_code == 403
        assert not [c for c in fake.calls if c.method == "POST" and c.service == "intake"]
        properties = client.post(f"/tickets/{TICKET}/properties", data={"status": "solved"})
        assert properties.status_code == 403
        assert not [c for c in fake.calls if c.method == "PATCH"]


def test_status_priority_and_tags_are_patched_at_intake() -> None:
    fake = FakeServices()
    a_ticket(fake)
    fake.route("PATCH", "intake", f"/v1/tickets/{TICKET}", lambda request: ticket(TICKET))
    with workspace(fake) as client:
        sign_in(client, "ada@acme.example")
        token = csrf_of(client, f"/tickets/{TICKET}")
        answer = client.post(
            f"/tickets/{TICKET}/properties",
            data={
                "csrf_token": token,
                "status": "pending",
                "priority": "high",
                "tags": "Exports, billing exports  vip",
            },
        )
        assert answer.status_code == 303
        [patch] = [c for c in fake.calls if c.method == "PATCH"]
        assert json_body(patch.request) == {
            "status": "pending",
            "priority": "high",
            "tags": ["exports", "billing", "vip"],
        }
        assert "Ticket updated" in client.get(f"/tickets/{TICKET}").text


def test_a_refused_change_is_shown_beside_the_form() -> None:
    fake = FakeServices()
    a_ticket(fake)
    fake.route(
        "PATCH",
        "intake",
        f"/v1/tickets/{TICKET}",
        lambda request: httpx.Response(
            422, json={"detail": [{"loc": ["body", "tags", 0], "msg": "String should match"}]}
        ),
    )
    with workspace(fake) as client:
        sign_in(client, "ada@acme.example")
        token = csrf_of(client, f"/tickets/{TICKET}")
        answer = client.post(
            f"/tickets/{TICKET}/properties", data={"csrf_token": token, "tags": "no/slashes"}
        )
        assert answer.status_code == 422
        assert 'id="properties-error"' in answer.text
        assert "tags.0: String should match" in answer.text


def test_403_and_404_from_intake_are_readable_pages() -> None:
    fake = FakeServices()
    a_ticket(fake)
    fake.route(
        "GET",
        "intake",
        "/v1/tickets/t-gone",
        lambda request: httpx.Response(404, json={"detail": "ticket not found"}),
    )
    fake.route(
        "GET",
        "intake",
        "/v1/tickets/t-gone/messages",
        lambda request: httpx.Response(404, json={"detail": "ticket not found"}),
    )
    fake.route(
        "POST",
        "intake",
        f"/v1/tickets/{TICKET}/messages",
        lambda request: httpx.Response(403, json={"detail": "this credential lacks permission"}),
    )
    with workspace(fake) as client:
        sign_in(client, "ada@acme.example")
        gone = client.get("/tickets/t-gone")
        assert gone.status_code == 404
        assert "Not found: it may have been deleted" in gone.text
        token = csrf_of(client, f"/tickets/{TICKET}")
        refused = client.post(
            f"/tickets/{TICKET}/messages", data={"csrf_token": token, "body": "hello"}
        )
        assert refused.status_code == 403
        assert "You don&#39;t have permission to do that" in refused.text
        assert client.get("/tickets/..%2F..%2Fadmin").status_code == 404


def test_an_attachment_is_downloaded_through_the_workspace_never_inline() -> None:
    fake = FakeServices()
    a_ticket(fake)
    fake.route(
        "GET",
        "intake",
        f"/v1/tickets/{TICKET}/messages/m-1/attachments/a-1",
        lambda request: httpx.Response(
            200,
            content=b"<script>x</script>",
            headers={
                "content-type": "text/html",
                "content-disposition": 'attachment; filename="export.log"',
            },
        ),
    )
    with workspace(fake) as client:
        sign_in(client, "ada@acme.example")
        answer = client.get(f"/tickets/{TICKET}/messages/m-1/attachments/a-1")
        assert answer.status_code == 200
        assert answer.content == b"<script>x</script>"
        assert answer.headers["content-disposition"].startswith("attachment")
        assert answer.headers["x-content-type-options"] == "nosniff"
