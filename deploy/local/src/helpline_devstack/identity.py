"""``make run``'s identity: the operator key, tenant ``demo``, its admin, keys and service keys.

Files in ``home``, each mode 0600: ``operator-key`` (the deployment operator's key),
``dev-admin`` (``{tenant, email, password}`` of the demo admin), ``dev-token`` (an admin API key
of the demo tenant, what the README's curl examples send) and ``service-key-<service>`` (a
service's own key, e.g. escalation's for opening preventive tickets at intake).
"""

import hashlib
import json
import secrets
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from helpline_devstack.private import write_private
from helpline_devstack.stack import SERVICE_PORTS, ServiceProcess, Stack

IDENTITY_PORT = 8084
WORKSPACE_PORT = 8085
DEMO_ADMIN_EMAIL = "admin@demo.helpline.test"
DEV_TOKEN = "dev-token"
"""The file holding the demo tenant's admin API key."""
SERVICE_KEYS: dict[str, tuple[str, tuple[str, ...]]] = {
    "escalation": ("HELPLINE_INTAKE_SERVICE_KEY", ("tickets:write",)),  # preventive tickets
    "notify": ("HELPLINE_INTAKE_SERVICE_KEY", ("tickets:read",)),  # agents' reply attachments
}
"""The services that call another service with their own key: its variable and scopes."""


class ProvisioningFailed(RuntimeError):
    """Identity refused what ``make run`` asked of it (its problem detail says why)."""


def secret_file(path: Path) -> str:
    """The secret kept in ``path`` (mode 0600), made on first use."""
    if not path.exists():
        write_private(path, secrets.token_urlsafe(32))
    return path.read_text().strip()


def operator_environment(home: Path) -> dict[str, str]:
    """Identity's environment: the hash of the operator key kept in ``home``."""
    key = secret_file(home / "operator-key")
    return {"HELPLINE_OPERATOR_KEY_SHA256": hashlib.sha256(key.encode()).hexdigest()}


def identity_environment(identity_url: str) -> dict[str, str]:
    """What makes a service trust the identity at ``identity_url`` (it is its own issuer)."""
    return {"HELPLINE_IDENTITY_URL": identity_url, "HELPLINE_IDENTITY_ISSUER": identity_url}


def _call(url: str, body: dict[str, Any] | None, token: str | None = None) -> Any:
    headers = {"content-type": "application/json"}
    if token:
        headers["authorization"] = f"Bearer {token}"
    request = urllib.request.Request(
        url, data=json.dumps(body).encode() if body else None, headers=headers, method="POST"
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read() or b"null")


def _refused(error: urllib.error.HTTPError, what: str) -> ProvisioningFailed:
    try:
        detail = json.loads(error.read() or b"{}").get("detail", "")
    except ValueError:
        detail = ""
    return ProvisioningFailed(f"{what}: identity answered {error.code} {detail}".rstrip())


def _still_active(identity_url: str, key_file: Path) -> bool:
    """Whether the key kept in ``key_file`` exists and identity still accepts it."""
    if not key_file.exists():
        return False
    known = _call(identity_url + "/v1/introspect", {"token": key_file.read_text().strip()})
    return bool(known.get("active"))


def provision_demo(identity_url: str, home: Path, tenant: str) -> None:
    """Create ``tenant`` with its admin once; keep a working admin API key in ``dev-token``."""
    admin_file = home / "dev-admin"
    if not admin_file.exists():
        credentials = {
            "tenant": tenant,
            "email": DEMO_ADMIN_EMAIL,
            "password": secrets.token_urlsafe(18),
        }
        write_private(admin_file, json.dumps(credentials) + "\n")
    admin_file.chmod(0o600)
    credentials = json.loads(admin_file.read_text())
    operator = secret_file(home / "operator-key")
    try:
        _call(
            identity_url + "/v1/tenants",
            {
                "tenant_id": tenant,
                "name": tenant.title(),
                "admin": {
                    "name": "Demo admin",
                    "email": credentials["email"],
                    "password": credentials["password"],
                },
            },
            operator,
        )
    except urllib.error.HTTPError as error:
        if error.code != 409:
            raise _refused(error, f"creating tenant {tenant!r}") from error
    key_file = home / DEV_TOKEN
    if _still_active(identity_url, key_file):
        return
    try:
        tokens = _call(identity_url + "/v1/login", credentials)
        created = _call(
            identity_url + "/v1/api-keys",
            {"name": "make run", "scopes": ["admin"]},
            tokens["access_token"],
        )
    except urllib.error.HTTPError as error:
        raise _refused(error, f"an admin API key for {tenant!r} (from {admin_file})") from error
    write_private(key_file, created["key"] + "\n")


def provision_service_key(identity_url: str, home: Path, service: str) -> dict[str, str]:
    """``service``'s own key as its variable (kept in ``service-key-<service>``, made at
    identity if needed); nothing for a service that needs none."""
    if service not in SERVICE_KEYS:
        return {}
    key_file = home / f"service-key-{service}"
    if not _still_active(identity_url, key_file):
        try:
            created = _call(
                identity_url + "/v1/service-keys",
                {"service": service, "scopes": list(SERVICE_KEYS[service][1])},
                secret_file(home / "operator-key"),
            )
        except urllib.error.HTTPError as error:
            raise _refused(error, f"a service key for {service}") from error
        write_private(key_file, created["key"] + "\n")
    return {SERVICE_KEYS[service][0]: key_file.read_text().strip()}


def service_urls(stack: Stack) -> dict[str, str]:
    """Where each service of ``stack`` answers, as the variables the others read."""
    return {
        f"HELPLINE_{name.upper()}_URL": f"http://127.0.0.1:{stack.ports[name]}"
        for name in (*SERVICE_PORTS, "identity")
        if name in stack.ports
    }


def start_with_identity(
    stack: Stack,
    home: Path,
    tenant: str,
    environments: Mapping[str, Mapping[str, str]] | None = None,
    *,
    workspace: bool = False,
) -> Iterator[ServiceProcess]:
    """Start identity, provision ``tenant`` (``provision_demo``), then the four services
    trusting identity, each with its own key; yield each service once it is ready.

    ``environments`` adds variables to one service (e.g. its Kafka credentials);
    ``workspace`` starts the workspace last (``stack.ports`` must name its port), proposing
    ``tenant`` on its sign-in page.
    """
    extra = environments or {}
    issuer = f"http://127.0.0.1:{stack.ports['identity']}"  # identity's own URL
    workspace_callback = (
        {
            "HELPLINE_OIDC_RETURN_URLS": json.dumps(
                [f"http://127.0.0.1:{stack.ports['workspace']}/signin/oidc/callback"]
            )
        }
        if workspace
        else {}
    )  # where identity may send a browser back after an OIDC sign-in
    identity = stack.start(
        "identity",
        {
            **operator_environment(home),
            "HELPLINE_ISSUER": issuer,
            **workspace_callback,
            **extra.get("identity", {}),
        },
    )
    yield identity
    provision_demo(identity.url, home, tenant)
    reply_secret = secret_file(home / "reply-token-secret")
    for name in SERVICE_PORTS:
        yield stack.start(
            name,
            {
                **identity_environment(identity.url),
                # Notify signs agents' Reply-To addresses, intake checks them.
                "HELPLINE_REPLY_TOKEN_SECRET": reply_secret,
                "HELPLINE_INTAKE_URL": f"http://127.0.0.1:{stack.ports['intake']}",
                **provision_service_key(identity.url, home, name),
                **extra.get(name, {}),
            },
        )
    if workspace:
        yield stack.start(
            "workspace",
            {
                **identity_environment(identity.url),
                **service_urls(stack),
                "HELPLINE_WORKSPACE_TENANT": tenant,
                **extra.get("workspace", {}),
            },
        )
