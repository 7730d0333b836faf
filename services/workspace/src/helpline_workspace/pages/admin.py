"""The admin pages: users and roles, API keys, webhook endpoints and their deliveries, SLA
policies and routing rules.

Each page reads from the service that owns the data and writes through its API; a refused write
shows the service's reason on the same page, above the form, with what was typed kept.
"""

import json
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from helpline_shared.permissions import SCOPES
from helpline_workspace.apis import ApiError, Apis
from helpline_workspace.web import Admin, render, session_of

router = APIRouter()
ROLES = ("agent", "lead", "admin")
NEW_KEY = "admin.new_api_key"
"""Session key of a just-created API key: popped by the page that shows it, once."""
LEDGER_PAGES = 20
"""Deliveries ledger pages (of up to 100) read to find an endpoint's recent deliveries."""
RECENT_DELIVERIES = 25
SECTIONS = (
    ("users", "Users and roles"),
    ("keys", "API keys"),
    ("webhooks", "Webhooks"),
    ("sla", "SLA policies"),
    ("routing", "Routing rules"),
)
POLICY_EXAMPLE = json.dumps(
    {
        "name": "Standard",
        "position": 100,
        "calendar": {"name": "Always open", "always_open": True},
        "metrics": {
            "first_response": {
                "targets": {"urgent": 900, "high": 3600, "normal": 14400, "low": 86400}
            },
            "resolution": {
                "targets": {"urgent": 14400, "high": 86400, "normal": 259200, "low": 604800}
            },
        },
    },
    indent=2,
)


class BadForm(Exception):
    """A form field the page refuses before calling a service; the message names the field."""


def segment(value: str) -> str:
    """``value`` as one URL path segment (no dot segments, no slashes)."""
    if not value or value.strip(".") == "" or len(value) > 128:
        raise ApiError("workspace", 404, "Not found: that id is not valid.")
    return quote(value, safe="")


async def _form(request: Request) -> dict[str, list[str]]:
    form = await request.form()
    found: dict[str, list[str]] = {}
    for key, value in form.multi_items():
        if isinstance(value, str):
            found.setdefault(key, []).append(value)
    return found


def _one(form: dict[str, list[str]], name: str) -> str:
    return (form.get(name) or [""])[0].strip()


def _teams(text: str) -> list[str]:
    return [team.strip() for team in text.replace("\n", ",").split(",") if team.strip()]


def _done(request: Request, message: str, location: str) -> Response:
    session_of(request).flash.append(message)
    return RedirectResponse(location, status_code=303)


def _status(error: ApiError | BadForm) -> int:
    if isinstance(error, BadForm):
        return 422
    return error.status if error.status in (400, 403, 404, 409, 422) else 502


@router.get("/admin")
async def admin_home(request: Request, apis: Admin) -> Response:
    """What an admin can manage."""
    return render(request, "admin_index.html", active="admin", sections=SECTIONS)


# Users and roles ------------------------------------------------------------------------------


async def _users_page(
    request: Request, apis: Admin, status_code: int = 200, **context: Any
) -> Response:
    users = await apis.get("identity", "/v1/users")
    users = sorted(users, key=lambda user: (str(user["name"]).lower(), user["user_id"]))
    return render(
        request,
        "admin_users.html",
        status_code=status_code,
        active="admin",
        section="users",
        sections=SECTIONS,
        users=users,
        roles=ROLES,
        **{"error": None, "new": {}, **context},
    )


@router.get("/admin/users")
async def users(request: Request, apis: Admin) -> Response:
    """The tenant's people with their role, teams and whether they may sign in."""
    return await _users_page(request, apis)


@router.post("/admin/users")
async def create_user(request: Request, apis: Admin) -> Response:
    """Add a person (identity)."""
    form = await _form(request)
    new = {
        "name": _one(form, "name"),
        "email": _one(form, "email"),
        "role": _one(form, "role"),
        "teams": _one(form, "teams"),
    }
    body: dict[str, Any] = {**new, "teams": _teams(new["teams"])}
    if password := (form.get("password") or [""])[0]:
        body["password"] = password
    try:
        user = await apis.post("identity", "/v1/users", body)
    except ApiError as error:
        return await _users_page(
            request,
            apis,
            _status(error),
            new=new,
            error=f"The person was not added: {error.message}",
        )
    return _done(request, f"{user['name']} was added as {user['role']}.", "/admin/users")


@router.post("/admin/users/{user_id}")
async def change_user(request: Request, apis: Admin, user_id: str) -> Response:
    """Change a person's role, teams or whether they may sign in (identity)."""
    form = await _form(request)
    body = {
        "role": _one(form, "role"),
        "teams": _teams(_one(form, "teams")),
        "active": _one(form, "active") == "true",
    }
    try:
        user = await apis.patch("identity", f"/v1/users/{segment(user_id)}", body)
    except (ApiError, BadForm) as error:
        return await _users_page(
            request, apis, _status(error), error=f"The person was not changed: {error}"
        )
    state = "active" if user["active"] else "deactivated"
    return _done(request, f"{user['name']} is now {user['role']}, {state}.", "/admin/users")


# API keys ---------------------------------------------------------------------------------------


async def _keys_page(
    request: Request, apis: Admin, status_code: int = 200, **context: Any
) -> Response:
    keys = await apis.get("identity", "/v1/api-keys")
    keys = sorted(keys, key=lambda key: (key.get("revoked_at") is not None, key["created_at"]))
    return render(
        request,
        "admin_keys.html",
        status_code=status_code,
        active="admin",
        section="keys",
        sections=SECTIONS,
        keys=keys,
        scopes=SCOPES,
        **{"error": None, "name": "", "chosen": [], **context},
    )


@router.get("/admin/keys")
async def api_keys(request: Request, apis: Admin) -> Response:
    """The tenant's API keys (never their secrets) and a form for a new one."""
    return await _keys_page(request, apis)


@router.post("/admin/keys")
async def create_api_key(request: Request, apis: Admin) -> Response:
    """Create a key; its secret is kept for the next page only."""
    form = await _form(request)
    name, chosen = _one(form, "name"), form.get("scopes", [])
    try:
        if not chosen:
            raise BadForm("Scopes: choose at least one scope.")
        created = await apis.post("identity", "/v1/api-keys", {"name": name, "scopes": chosen})
    except (ApiError, BadForm) as error:
        return await _keys_page(
            request,
            apis,
            _status(error),
            name=name,
            chosen=chosen,
            error=f"The key was not created: {error}",
        )
    session_of(request).data[NEW_KEY] = {**created, "name": name}
    return RedirectResponse("/admin/keys/new", status_code=303)


@router.get("/admin/keys/new")
async def new_api_key(request: Request, apis: Admin) -> Response:
    """The key just created, shown this once: the session forgets it as the page is made."""
    created = session_of(request).data.pop(NEW_KEY, None)
    return render(
        request,
        "admin_key_created.html",
        active="admin",
        section="keys",
        sections=SECTIONS,
        created=created,
    )


async def _key(apis: Apis, key_id: str) -> dict[str, Any]:
    for key in await apis.get("identity", "/v1/api-keys"):
        if key["id"] == key_id:
            found: dict[str, Any] = key
            return found
    raise ApiError("identity", 404, "Not found: there is no such API key.")


@router.get("/admin/keys/{key_id}/revoke")
async def confirm_revoke(request: Request, apis: Admin, key_id: str) -> Response:
    """Ask before revoking: what stops working."""
    return render(
        request,
        "admin_key_revoke.html",
        active="admin",
        section="keys",
        sections=SECTIONS,
        key=await _key(apis, key_id),
    )


@router.post("/admin/keys/{key_id}/revoke")
async def revoke_api_key(request: Request, apis: Admin, key_id: str) -> Response:
    """Revoke the key (identity); calls with it are refused from then on."""
    key = await _key(apis, key_id)
    await apis.delete("identity", f"/v1/api-keys/{segment(key_id)}")
    return _done(request, f"The key “{key['name']}” ({key['prefix']}…) is revoked.", "/admin/keys")


# Webhooks ---------------------------------------------------------------------------------------


@router.get("/admin/webhooks")
async def webhooks(request: Request, apis: Admin) -> Response:
    """The tenant's webhook endpoints."""
    endpoints = await apis.get("notify", "/v1/webhook-endpoints")
    return render(
        request,
        "admin_webhooks.html",
        active="admin",
        section="webhooks",
        sections=SECTIONS,
        endpoints=endpoints,
    )


async def recent_deliveries(apis: Apis, endpoint_id: str) -> tuple[list[dict[str, Any]], bool]:
    """The endpoint's latest deliveries, newest first, and whether the ledger was read to its end.

    Notify's ledger lists every channel oldest first and has no endpoint filter: the pages are
    read in order, at most :data:`LEDGER_PAGES` of them.
    """
    found: list[dict[str, Any]] = []
    cursor = None
    for _ in range(LEDGER_PAGES):
        page = await apis.get("notify", "/v1/deliveries", limit=100, cursor=cursor)
        found.extend(
            delivery
            for delivery in page["items"]
            if delivery["channel"] == "webhook" and delivery["destination"] == endpoint_id
        )
        found = found[-RECENT_DELIVERIES:]
        cursor = page.get("next_cursor")
        if not cursor:
            return found[::-1], True
    return found[::-1], False


@router.get("/admin/webhooks/{endpoint_id}")
async def webhook(request: Request, apis: Admin, endpoint_id: str) -> Response:
    """One endpoint and its recent deliveries, each with a resend."""
    endpoint = await apis.get("notify", f"/v1/webhook-endpoints/{segment(endpoint_id)}")
    deliveries, complete = await recent_deliveries(apis, endpoint["id"])
    return render(
        request,
        "admin_webhook.html",
        active="admin",
        section="webhooks",
        sections=SECTIONS,
        endpoint=endpoint,
        deliveries=deliveries,
        complete=complete,
    )


@router.post("/admin/webhooks/{endpoint_id}/deliveries/{delivery_id}/resend")
async def resend(request: Request, apis: Admin, endpoint_id: str, delivery_id: str) -> Response:
    """Send one delivery again (notify; same webhook-id, so receivers can deduplicate)."""
    await apis.post("notify", f"/v1/deliveries/{segment(delivery_id)}/resend")
    return _done(
        request,
        f"Delivery {delivery_id} is queued to be sent again.",
        f"/admin/webhooks/{segment(endpoint_id)}",
    )


# SLA policies -----------------------------------------------------------------------------------


async def _sla_page(
    request: Request, apis: Admin, status_code: int = 200, **context: Any
) -> Response:
    policies = await apis.get("escalation", "/v1/sla/policies")
    return render(
        request,
        "admin_sla.html",
        status_code=status_code,
        active="admin",
        section="sla",
        sections=SECTIONS,
        policies=policies,
        **{
            "error": None,
            "policy_id": "",
            "document": POLICY_EXAMPLE,
            "recompute": False,
            **context,
        },
    )


@router.get("/admin/sla")
async def sla_policies(request: Request, apis: Admin) -> Response:
    """The tenant's SLA policies in the order they are tried, and a form for a new version."""
    return await _sla_page(request, apis)


def _json(text: str, what: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise BadForm(
            f"{what}: not valid JSON ({error.msg} at line {error.lineno}, column {error.colno})."
        ) from error


@router.post("/admin/sla")
async def put_sla_policy(request: Request, apis: Admin) -> Response:
    """Store a new version of a policy (escalation validates the document)."""
    form = await _form(request)
    policy_id, document = _one(form, "policy_id"), (form.get("document") or [""])[0]
    recompute = _one(form, "recompute") == "true"
    try:
        written = (
            await apis.request(
                "PUT",
                "escalation",
                f"/v1/sla/policies/{segment(policy_id)}",
                params={"recompute": "true" if recompute else None},
                json=_json(document, "Policy"),
            )
        ).json()
    except (ApiError, BadForm) as error:
        return await _sla_page(
            request,
            apis,
            _status(error),
            policy_id=policy_id,
            document=document,
            recompute=recompute,
            error=f"The policy was not saved: {error}",
        )
    moved = len(written.get("moved", []))
    return _done(
        request,
        f"Policy {written['policy_id']} is now version {written['version']}"
        + (f"; {moved} deadlines moved." if recompute else "."),
        "/admin/sla",
    )


# Routing rules ----------------------------------------------------------------------------------


def _rules_text(rule_set: dict[str, Any]) -> str:
    return json.dumps(
        {"rules": rule_set.get("rules", []), "default": rule_set.get("default")}, indent=2
    )


@router.get("/admin/routing")
async def routing_rules(request: Request, apis: Admin) -> Response:
    """The tenant's routing rules (first match wins), editable as JSON."""
    rule_set = await apis.get("routing", "/v1/routing/rules")
    return render(
        request,
        "admin_routing.html",
        active="admin",
        section="routing",
        sections=SECTIONS,
        rule_set=rule_set,
        document=_rules_text(rule_set),
        error=None,
    )


@router.post("/admin/routing")
async def put_routing_rules(request: Request, apis: Admin) -> Response:
    """Store the rules as a new version (routing validates them)."""
    document = ((await _form(request)).get("document") or [""])[0]
    try:
        saved = await apis.put("routing", "/v1/routing/rules", _json(document, "Rules"))
    except (ApiError, BadForm) as error:
        rule_set = await apis.get("routing", "/v1/routing/rules")
        return render(
            request,
            "admin_routing.html",
            status_code=_status(error),
            active="admin",
            section="routing",
            sections=SECTIONS,
            rule_set=rule_set,
            document=document,
            error=f"The rules were not saved: {error}",
        )
    return _done(request, f"Routing rules saved as version {saved['version']}.", "/admin/routing")
