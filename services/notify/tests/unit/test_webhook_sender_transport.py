"""The webhook sender goes straight to its client's transport: no cookie jar, the client's
headers and timeout kept."""

import httpx
from standardwebhooks import Webhook

from helpline_notify.adapters.webhooks import HttpxWebhookSender
from helpline_notify.domain.model import new_webhook_secret
from helpline_notify.service_layer.ports import WebhookRequest

BODY = '{"type":"helpline.ticket.assigned.v1","data":{}}'


def request_to(url: str, secret: str) -> WebhookRequest:
    return WebhookRequest(url=url, message_id="msg_1", body=BODY, secret=secret)


async def test_a_cookie_set_by_an_endpoint_is_never_sent_back() -> None:
    received: list[httpx.Request] = []

    def endpoint(request: httpx.Request) -> httpx.Response:
        received.append(request)
        return httpx.Response(200, headers={"set-cookie": "session=partner; Path=/"})

    sender = HttpxWebhookSender(httpx.AsyncClient(transport=httpx.MockTransport(endpoint)))
    secret = new_webhook_secret()
    await sender.send(request_to("https://hooks.example.com/in", secret))
    await sender.send(request_to("https://hooks.example.com/in", secret))

    assert [request.headers.get("cookie") for request in received] == [None, None]


async def test_the_clients_headers_and_timeout_apply() -> None:
    received: list[httpx.Request] = []

    def endpoint(request: httpx.Request) -> httpx.Response:
        received.append(request)
        return httpx.Response(204)

    client = httpx.AsyncClient(
        transport=httpx.MockTransport(endpoint),
        headers={"user-agent": "Helpline-Webhooks/0.1"},
        timeout=httpx.Timeout(3.0),
    )
    secret = new_webhook_secret()
    response = await HttpxWebhookSender(client).send(
        request_to("https://hooks.example.com/in", secret)
    )

    assert response.status_code == 204
    [request] = received
    assert request.headers["user-agent"] == "Helpline-Webhooks/0.1"
    assert request.headers["host"] == "hooks.example.com"
    assert request.extensions["timeout"] == httpx.Timeout(3.0).as_dict()
    assert Webhook(secret).verify(request.content, dict(request.headers))
