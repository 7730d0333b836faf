"""``make run``'s identity: the operator key, tenant ``demo``, its admin and an admin API key.

The other services still take the HMAC ``dev-token`` this round; identity's credentials go to
``dev-admin`` (``{tenant, email, password}``) and ``dev-identity-key``, both mode 0600.
"""

import hashlib
import json
import secrets
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from helpline_devstack.private import write_private

IDENTITY_PORT = 8084
DEMO_ADMIN_EMAIL = "admin@demo.helpline.test"


def secret_file(path: Path) -> str:
    """The secret kept in ``path`` (mode 0600), made on first use."""
    if not path.exists():
        write_private(path, secrets.token_urlsafe(32))
    return path.read_text().strip()


def operator_environment(home: Path) -> dict[str, str]:
    """Identity's environment: the hash of the operator key kept in ``home``."""
    key = secret_file(home / "operator-key")
    return {"HELPLINE_OPERATOR_KEY_SHA256": hashlib.sha256(key.encode()).hexdigest()}


def _call(url: str, body: dict[str, Any] | None, token: str | None = None) -> Any:
    headers = {"content-type": "application/json"}
    if token:
        headers["authorization"] = f"Bearer {token}"
    request = urllib.request.Request(url, data=json.dumps(body).encode() if body else None,
                                     headers=headers, method="POST")
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read() or b"null")


def provision_demo(identity_url: str, home: Path, tenant: str) -> None:
    """Create ``tenant`` with its admin once; keep a working admin API key in dev-identity-key."""
    admin_file = home / "dev-admin"
    if not admin_file.exists():
        credentials = {"tenant": tenant, "email": DEMO_ADMIN_EMAIL,
                       "password": secrets.token_urlsafe(18)}
        write_private(admin_file, json.dumps(credentials) + "\n")
    credentials = json.loads(admin_file.read_text())
    operator = secret_file(home / "operator-key")
    try:
        _call(identity_url + "/v1/tenants", {
            "tenant_id": tenant, "name": tenant.title(),
            "admin": {"name": "Demo admin", "email": credentials["email"],
                      "password": credentials["password"]}}, operator)
    except urllib.error.HTTPError as error:
        if error.code != 409:
            raise
    key_file = home / "dev-identity-key"
    if key_file.exists():
        known = _call(identity_url + "/v1/introspect", {"token": key_file.read_text().strip()})
        if known.get("active"):
            return
    tokens = _call(identity_url + "/v1/login", credentials)
    created = _call(identity_url + "/v1/api-keys", {"name": "make run", "scopes": ["admin"]},
                    tokens["access_token"])
    write_private(key_file, created["key"] + "\n")
