"""Opening preventive tickets through intake's HTTP API, with an ``Idempotency-Key``.

Escalation calls as itself: a service key identity issued (``HELPLINE_INTAKE_SERVICE_KEY``),
naming the tenant it acts for in ``Helpline-Tenant``. Each call is a traced HTTP client span
whose context travels in ``traceparent``: intake's request, the ticket it opens and everything
that follows stay in the firing timer's trace.
"""

import logging
from typing import Any

import httpx
from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
from opentelemetry.trace import TracerProvider

from helpline_escalation.domain.errors import TicketNotOpened
from helpline_shared.runtime.auth import TENANT_HEADER

log = logging.getLogger(__name__)

# 409: the key was used before with another body (the occurrence was opened on time by an
# attempt whose commit was lost, and is now retried late): its ticket exists already.
_ALREADY_OPENED = 409


class HttpTicketOpener:
    """``TicketOpener`` over intake's ``POST /v1/tickets``."""

    def __init__(
        self,
        intake_url: str,
        service_key: str | None,
        timeout: float = 10.0,
        tracer_provider: TracerProvider | None = None,
    ) -> None:
        self._url = intake_url.rstrip("/") + "/v1/tickets"
        self._service_key = service_key
        self._timeout = timeout
        self._tracer_provider = tracer_provider

    async def open_ticket(self, tenant_id: str, body: dict[str, Any], idempotency_key: str) -> str:
        """Open the ticket (or get the one this key opened); return its id."""
        if not self._service_key:
            log.error(
                "cannot open a preventive ticket: no service key for intake is set "
                "(HELPLINE_INTAKE_SERVICE_KEY, issued by identity's POST /v1/service-keys)",
                extra={"tenant_id": tenant_id},
            )
            raise TicketNotOpened("no service key for intake (HELPLINE_INTAKE_SERVICE_KEY)")
        headers = {
            "authorization": f"Bearer {self._service_key}",
            TENANT_HEADER: tenant_id,
            "idempotency-key": idempotency_key,
        }
        try:
            async with httpx.AsyncClient(timeout=self._timeout) as client:
                HTTPXClientInstrumentor.instrument_client(
                    client, tracer_provider=self._tracer_provider
                )
                response = await client.post(self._url, json=body, headers=headers)
        except httpx.HTTPError as error:
            raise TicketNotOpened(f"intake unreachable: {type(error).__name__}") from error
        if response.status_code == _ALREADY_OPENED:
            return ""
        if response.status_code not in (200, 201):
            raise TicketNotOpened(f"intake answered {response.status_code}")
        return str(response.json()["id"])
