"""``require`` is one dependency, the bearer scheme itself, which verifies the caller: FastAPI
resolves no dependency below it (each level costs a resolution of every parameter kind, on every
request), and the OpenAPI document still states the scheme."""

from fastapi import FastAPI
from fastapi.routing import APIRoute
from fastapi.security import HTTPBearer

from helpline_shared.runtime.auth import Principal, require, route_permission


def test_a_required_permission_is_one_dependency_the_bearer_scheme_itself() -> None:
    app = FastAPI()

    @app.get("/things")
    async def things(principal: Principal = require("tickets.read")) -> None:
        return None

    route = next(route for route in app.routes if isinstance(route, APIRoute))
    assert route_permission(route) == "tickets.read"
    (required,) = route.dependant.dependencies
    assert isinstance(required.call, HTTPBearer)
    assert required.dependencies == []
    assert app.openapi()["components"]["securitySchemes"] == {
        "HTTPBearer": {"type": "http", "scheme": "bearer"}
    }
