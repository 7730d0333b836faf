"""OIDC sign-in against a real Keycloak, started once per session from its Maven distribution.

Keycloak rather than Dex: the Go module proxy this project may use serves Dex only up to
v2.13.0 (2018, pre-modules), whose dependencies no longer build with current modules; Keycloak's
distribution is an ordinary Maven artifact and runs on the JDK 17 Kafka already needs.
The first run fetches it (~150 MB) into ~/.cache/helpline/keycloak and takes minutes to start.
"""

import html
import os
import re
import shutil
import signal
import subprocess
import tarfile
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import jwt
import pytest
from identity_support import Clock, IdentityApi, bearer

from helpline_devstack._proc import free_port
from helpline_identity.adapters.orm import metadata
from helpline_identity.bootstrap import MIGRATIONS
from helpline_identity.service_layer.unit_of_work import IdentityUnitOfWork
from helpline_shared.runtime.testing import sqlite_units_of_work
from helpline_workspace.app import create_app
from helpline_workspace.config import WorkspaceSettings

pytestmark = pytest.mark.integration

VERSION = "26.0.8"
REALM = Path(__file__).parent / "data" / "keycloak-realm.json"
CLIENT_SECRET = "identity-test-secret"
REDIRECT_URI = "http://127.0.0.1/v1/oidc/keycloak/callback"
WORKSPACE = "http://workspace.test"


def keycloak_home() -> Path:
    """Keycloak's unpacked distribution, fetched through Maven on first use."""
    cache = Path(os.environ.get("HELPLINE_CACHE", Path.home() / ".cache" / "helpline"))
    cache = cache / "keycloak"
    home = cache / f"keycloak-{VERSION}"
    if not (home / "bin" / "kc.sh").exists():
        archive = cache / f"keycloak-quarkus-dist-{VERSION}.tar.gz"
        if not archive.exists():
            cache.mkdir(parents=True, exist_ok=True)
            subprocess.run(
                [
                    "mvn",
                    "-q",
                    "-B",
                    "dependency:copy",
                    f"-Dartifact=org.keycloak:keycloak-quarkus-dist:{VERSION}:tar.gz",
                    f"-DoutputDirectory={cache}",
                ],
                check=True,
                timeout=900,
            )
        with tarfile.open(archive) as bundle:
            bundle.extractall(cache, filter="data")
    return home


@pytest.fixture(scope="session")
def keycloak(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A running Keycloak with realm ``helpline``: client ``helpline-identity``, user ann.

    ``HELPLINE_TEST_KEYCLOAK_URL`` names one already running with that realm (to iterate).
    """
    if os.environ.get("HELPLINE_TEST_KEYCLOAK_URL"):
        yield os.environ["HELPLINE_TEST_KEYCLOAK_URL"]
        return
    if shutil.which("java") is None or shutil.which("mvn") is None:
        pytest.fail("Keycloak needs java (17+) and mvn: run `make system-deps`")
    home = keycloak_home()
    imports = home / "data" / "import"
    imports.mkdir(parents=True, exist_ok=True)
    shutil.copy(REALM, imports / "helpline-test-realm.json")
    port = free_port()
    log = tmp_path_factory.mktemp("keycloak") / "keycloak.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            [
                str(home / "bin" / "kc.sh"),
                "start-dev",
                "--http-host=127.0.0.1",
                f"--http-port={port}",
                "--import-realm",
                "--db=dev-mem",
            ],
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}/realms/helpline"
    try:
        deadline = time.monotonic() + 600
        while True:
            if process.poll() is not None:
                pytest.fail(f"Keycloak exited: {log.read_text()[-3000:]}")
            try:
                if httpx.get(url + "/.well-known/openid-configuration").status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"Keycloak not up after 600 s: {log.read_text()[-3000:]}")
            time.sleep(1)
        yield url
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)


@pytest.fixture
async def identity(keycloak: str, tmp_path: Path) -> AsyncIterator[IdentityApi]:
    """Identity in-process with Keycloak as provider ``keycloak`` for tenant ``acme``.

    It may return browsers to the workspace's OIDC callback at :data:`WORKSPACE`.
    """
    provider = {
        "issuer": keycloak,
        "client_id": "helpline-identity",
        "client_secret": CLIENT_SECRET,
        "redirect_uri": REDIRECT_URI,
        "tenant": "acme",
        "role_map": {"helpline-leads": "lead"},
        "scope": "openid email profile",
    }
    async with sqlite_units_of_work(
        tmp_path / "identity.db", MIGRATIONS, metadata, IdentityUnitOfWork
    ) as (unit_of_work, engine):
        clock = Clock()
        app = IdentityApi.app(
            unit_of_work,
            clock,
            oidc_providers={"keycloak": provider},
            oidc_return_urls=[WORKSPACE + "/signin/oidc/callback"],
        )
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://identity") as client:
            api = IdentityApi(client, engine, clock)
            await api.create_tenant("acme", admin_email="root@acme.test")
            yield api


async def sign_in_at_keycloak(authorization_url: str, username: str, password: str) -> str:
    """Fill Keycloak's login form as a browser would; return where it redirects."""
    async with httpx.AsyncClient(follow_redirects=False, timeout=30) as browser:
        page = await browser.get(authorization_url)
        assert page.status_code == 200, page.text[:500]
        answer = await submit_login(browser, page, username, password)
        assert answer.status_code == 302, answer.text[:500]
        return answer.headers["location"]


async def submit_login(
    browser: httpx.AsyncClient, page: httpx.Response, username: str, password: str
) -> httpx.Response:
    """Post Keycloak's login form with its session cookies.

    They are marked Secure, which a client sends over https only, so they are passed by hand.
    """
    action = re.search(r'<form[^>]*id="kc-form-login"[^>]*action="([^"]+)"', page.text)
    assert action, "no login form"
    cookies = "; ".join(f"{cookie.name}={cookie.value}" for cookie in browser.cookies.jar)
    return await browser.post(
        html.unescape(action.group(1)),
        headers={"Cookie": cookies},
        data={"username": username, "password": password},
    )


async def test_a_keycloak_user_signs_in_with_pkce_and_gets_our_tokens(
    identity: IdentityApi,
) -> None:
    start = await identity.client.get("/v1/oidc/keycloak/login")
    assert start.status_code == 302
    query = parse_qs(urlsplit(start.headers["location"]).query)
    assert query["code_challenge_method"] == ["S256"] and query["code_challenge"]
    back = await sign_in_at_keycloak(start.headers["location"], "ann", "ann-password-123")
    assert back.startswith(REDIRECT_URI)
    returned = parse_qs(urlsplit(back).query)
    done = await identity.client.get(
        "/v1/oidc/keycloak/callback",
        params={"code": returned["code"][0], "state": returned["state"][0]},
    )
    assert done.status_code == 200, done.text
    tokens = done.json()
    claims = jwt.decode(tokens["access_token"], options={"verify_signature": False})
    assert (claims["tenant"], claims["role"]) == ("acme", "lead")
    me = (await identity.client.get("/v1/me", headers=bearer(tokens["access_token"]))).json()
    assert me["email"] == "ann@acme.test" and me["role"] == "lead"
    replay = await identity.client.get(
        "/v1/oidc/keycloak/callback",
        params={"code": returned["code"][0], "state": returned["state"][0]},
    )
    assert replay.status_code == 401, "a state is used once"
    admin = await identity.login("acme", "root@acme.test")
    audit = (
        await identity.client.get(
            "/v1/audit", params={"action": "login.oidc"}, headers=bearer(admin)
        )
    ).json()["entries"]
    assert audit[0]["detail"]["provider"] == "keycloak"


async def test_a_wrong_password_at_keycloak_gives_no_code(identity: IdentityApi) -> None:
    start = await identity.client.get("/v1/oidc/keycloak/login")
    async with httpx.AsyncClient(timeout=30) as browser:
        page = await browser.get(start.headers["location"])
        answer = await submit_login(browser, page, "ann", "wrong")
    assert answer.status_code == 200 and "Invalid username or password" in answer.text


async def test_a_forged_state_is_refused(identity: IdentityApi) -> None:
    response = await identity.client.get(
        "/v1/oidc/keycloak/callback", params={"code": "x", "state": "made-up"}
    )
    assert response.status_code == 401


class Internet(httpx.AsyncBaseTransport):
    """What a browser reaches: the workspace and identity in-process, Keycloak over the network.

    Identity answers at Keycloak's registered redirect URI (``http://127.0.0.1/...``, port 80).
    """

    def __init__(
        self, workspace: httpx.AsyncBaseTransport, identity: httpx.AsyncBaseTransport
    ) -> None:
        self.workspace, self.identity = workspace, identity
        self.network = httpx.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.host == urlsplit(WORKSPACE).hostname:
            return await self.workspace.handle_async_request(request)
        if request.url.host == "127.0.0.1" and request.url.port is None:
            return await self.identity.handle_async_request(request)
        return await self.network.handle_async_request(request)


async def test_the_workspace_signs_a_keycloak_user_in_through_identity(
    identity: IdentityApi, keycloak: str
) -> None:
    to_identity = identity.client._transport  # the in-process identity app
    urls = {
        f"{name}_url": f"http://{name}.internal"
        for name in ("intake", "routing", "escalation", "notify")
    }
    workspace = create_app(
        WorkspaceSettings(identity_url="http://identity", **urls), transport=to_identity
    )
    internet = Internet(httpx.ASGITransport(app=workspace), to_identity)
    async with httpx.AsyncClient(transport=internet, follow_redirects=True, timeout=30) as browser:
        page = await browser.get(WORKSPACE + "/signin")
        assert "Sign in with Keycloak" in page.text
        login = await browser.get(
            WORKSPACE + "/signin/oidc/keycloak", params={"next": "/static/app.css"}
        )
        assert str(login.url).startswith(keycloak), login.text[:500]
        assert [hop.status_code for hop in login.history] == [303]
        anonymous = browser.cookies["helpline_session"]
        landed = await submit_login(browser, login, "ann", "ann-password-123")
        hops = [(hop.status_code, hop.url.host, hop.url.path) for hop in landed.history]
        assert hops == [
            (302, "127.0.0.1", urlsplit(keycloak).path + "/login-actions/authenticate"),
            (303, "127.0.0.1", "/v1/oidc/keycloak/callback"),
            (303, "workspace.test", "/signin/oidc/callback"),
        ], hops
        assert landed.status_code == 200 and str(landed.url) == WORKSPACE + "/static/app.css"
        assert browser.cookies["helpline_session"] != anonymous, "the session id is rotated"
    people = [session.person for session in workspace.state.sessions.signed_in()]
    assert [(p.email, p.tenant, p.role) for p in people] == [("ann@acme.test", "acme", "lead")]
    replay = landed.history[-1].url
    async with httpx.AsyncClient(transport=internet, follow_redirects=False) as other:
        stolen = await other.get(str(replay))
    assert stolen.status_code == 400, "a code is worth nothing outside its browser session"
