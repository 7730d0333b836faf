"""``require`` verifies the caller itself: FastAPI resolves one dependency below it (the bearer
scheme), not a chain of two, on every request."""

from fastapi import FastAPI
from fastapi.routing import APIRoute
from fastapi.security import HTTPBearer

from helpline_shared.runtime.auth import Principal, require, route_permission


def test_a_required_permission_is_one_dependency_over_the_bearer_scheme() -> None:
    app = FastAPI()

    @app.get("/things")
    async def things(principal: Principal = require("tickets.read")) -> None:
        return None

    route = next(route for route in app.routes if isinstance(route, APIRoute))
    assert route_permission(route) == "tickets.read"
    (required,) = route.dependant.dependencies
    assert [type(sub.call) for sub in required.dependencies] == [HTTPBearer]
    assert app.openapi()["components"]["securitySchemes"] == {
        "HTTPBearer": {"type": "http", "scheme": "bearer"}
    }
