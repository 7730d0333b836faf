"""Webhooks out: Standard Webhooks signatures, sent on notify's own HTTP client."""

from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime

import h11
from opentelemetry import propagate
from opentelemetry.trace import SpanKind, Status, StatusCode, Tracer
from standardwebhooks import Webhook

from helpline_notify.adapters.webhook_http import WebhookHttp
from helpline_notify.domain.errors import DeliveryAttemptFailed
from helpline_notify.service_layer.ports import WebhookRequest, WebhookResponse
from helpline_shared.runtime.db import utcnow


def parse_retry_after(value: str | None, now: datetime) -> timedelta | None:
    """A ``Retry-After`` header (seconds or an HTTP date, RFC 9110 10.2.3) as a wait."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return timedelta(seconds=int(value))
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return max(timedelta(0), moment - now)


def signed_headers(request: WebhookRequest, timestamp: datetime) -> dict[str, str]:
    """The Standard Webhooks headers that let the receiver verify ``request``."""
    # Standard Webhooks: several space-separated signatures, one per secret valid in a rotation.
    signature = " ".join(
        Webhook(secret).sign(request.message_id, timestamp, request.body)
        for secret in (request.secret, *request.extra_secrets)
    )
    return {
        "content-type": "application/json",
        "webhook-id": request.message_id,
        "webhook-timestamp": str(int(timestamp.timestamp())),
        "webhook-signature": signature,
    }


EXCERPT_BYTES = 512


class GuardedWebhookSender:
    """POSTs signed webhooks on ``WebhookHttp`` (guarded, no redirects, an excerpt read back).

    With ``tracer`` (spans are exported) each call has a client span in the ticket's trace, as
    an instrumented client's; without, the request carries the current trace context.
    """

    def __init__(self, http: WebhookHttp, *, tracer: Tracer | None = None) -> None:
        self._http = http
        self._tracer = tracer

    async def send(self, request: WebhookRequest) -> WebhookResponse:
        """Sign and POST ``request`` (reading back at most an excerpt); network failures raise."""
        if self._tracer is None:
            return await self._send(request)
        with self._tracer.start_as_current_span(
            "POST",
            kind=SpanKind.CLIENT,
            attributes={"http.request.method": "POST", "url.full": request.url},
        ) as span:
            response = await self._send(request)
            span.set_attribute("http.response.status_code", response.status_code)
            if response.status_code >= 400:
                span.set_status(Status(StatusCode.ERROR))
            return response

    async def _send(self, request: WebhookRequest) -> WebhookResponse:
        now = utcnow()
        headers = signed_headers(request, now)
        propagate.inject(headers)
        try:
            answer = await self._http.post(
                request.url, list(headers.items()), request.body.encode(), EXCERPT_BYTES
            )
        except TimeoutError as error:
            raise DeliveryAttemptFailed("timed out: no answer in time") from error
        except DeliveryAttemptFailed:
            raise
        except (OSError, ValueError, h11.ProtocolError) as error:
            raise DeliveryAttemptFailed(f"{type(error).__name__}: {error}"[:500]) from error
        return WebhookResponse(
            status_code=answer.status_code,
            retry_after=parse_retry_after(answer.headers.get("retry-after"), now),
            excerpt=answer.excerpt.decode(errors="replace") or None,
        )

    async def aclose(self) -> None:
        """Close the idle connections."""
        await self._http.aclose()
