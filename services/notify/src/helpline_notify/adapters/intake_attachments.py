"""A message's attached files, read from intake's API with notify's own service key."""

from urllib.parse import quote

import httpx

from helpline_notify.domain.errors import DeliveryAttemptFailed
from helpline_shared.runtime.auth import TENANT_HEADER


class HttpAttachmentSource:
    """``AttachmentSource`` over intake's ``GET .../messages/{id}/attachments/{id}``: notify calls
    as itself (a service key with ``tickets:read``), naming the tenant in ``Helpline-Tenant``."""

    def __init__(
        self, intake_url: str, service_key: str, client: httpx.AsyncClient, max_bytes: int
    ) -> None:
        self._url = intake_url.rstrip("/")
        self._service_key = service_key
        self._client = client
        self._max_bytes = max_bytes

    async def fetch(
        self, tenant_id: str, ticket_id: str, message_id: str, attachment_id: str
    ) -> bytes:
        """The bytes of the attachment; a 404 or 403 is permanent, anything else retried."""
        path = "/".join(
            quote(part, safe="")
            for part in (
                "v1",
                "tickets",
                ticket_id,
                "messages",
                message_id,
                "attachments",
                attachment_id,
            )
        )
        try:
            response = await self._client.get(
                f"{self._url}/{path}",
                headers={"authorization": f"Bearer {self._service_key}", TENANT_HEADER: tenant_id},
            )
        except httpx.HTTPError as error:
            raise DeliveryAttemptFailed(
                f"attachment {attachment_id}: intake: {type(error).__name__}"
            ) from error
        if response.status_code != 200:
            raise DeliveryAttemptFailed(
                f"attachment {attachment_id}: intake answered {response.status_code}",
                permanent=response.status_code in (401, 403, 404, 410),
            )
        if len(response.content) > self._max_bytes:
            raise DeliveryAttemptFailed(
                f"attachment {attachment_id}: larger than {self._max_bytes} bytes", permanent=True
            )
        return response.content

    async def aclose(self) -> None:
        """Close the HTTP client."""
        await self._client.aclose()
