"""RFC 9457 problem details for every HTTP error."""

import logging
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

log = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"


def problem(status: int, title: str, detail: str | None = None, **extra: Any) -> JSONResponse:
    """A problem+json response."""
    body: dict[str, Any] = {"type": "about:blank", "title": title, "status": status}
    if detail:
        body["detail"] = detail
    body.update(extra)
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON)


def _field_path(location: tuple[Any, ...] | list[Any]) -> str:
    parts = [str(part) for part in location if part not in ("body", "query", "path", "header")]
    return ".".join(parts) or str(location[0] if location else "request")


async def _validation_problem(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, RequestValidationError)
    errors = [
        {"field": _field_path(item.get("loc", ())), "message": item.get("msg", "invalid")}
        for item in error.errors()
    ]
    fields = ", ".join(sorted({item["field"] for item in errors}))
    return problem(422, "Invalid request", f"invalid field(s): {fields}", errors=errors)


async def _http_problem(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, StarletteHTTPException)
    response = problem(
        error.status_code,
        _TITLES.get(error.status_code, "Error"),
        str(error.detail) if error.detail else None,
    )
    for name, value in (getattr(error, "headers", None) or {}).items():
        response.headers[name] = value
    return response


_TITLES = {
    400: "Bad request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    413: "Payload too large",
    415: "Unsupported media type",
    422: "Invalid request",
    429: "Too many requests",
    500: "Internal server error",
    503: "Service unavailable",
}


# SQLSTATE class 08 (connection exception) and the shutdown codes of class 57 (operator
# intervention: admin shutdown, crash shutdown, cannot connect now).
_UNAVAILABLE_SQLSTATES = ("08", "57P01", "57P02", "57P03")


def database_unavailable(error: BaseException) -> bool:
    """True when ``error`` means the database cannot be reached, rather than a bad statement."""
    if isinstance(error, ConnectionError | OperationalError | InterfaceError):
        return True
    if isinstance(error, DBAPIError):
        if error.connection_invalidated:
            return True
        for cause in (error.orig, getattr(error.orig, "__cause__", None)):
            if isinstance(cause, OSError):
                return True
            sqlstate = str(getattr(cause, "sqlstate", "") or "")
            if sqlstate.startswith(_UNAVAILABLE_SQLSTATES):
                return True
    return False


async def _database_problem(request: Request, error: Exception) -> JSONResponse:
    if not database_unavailable(error):
        log.error(
            "database error during a request", exc_info=error, extra={"path": request.url.path}
        )
        return problem(500, "Internal server error", "the request failed; it was not stored")
    # The database went away mid-request: nothing was committed, so the client may retry.
    log.warning(
        "database unavailable during a request",
        extra={"path": request.url.path, "error_type": type(error).__name__},
    )
    response = problem(
        503, "Service unavailable", "the database is unreachable; nothing was stored, retry later"
    )
    response.headers["Retry-After"] = "5"
    return response


def install_problem_handlers(app: FastAPI) -> None:
    """Make every error of ``app`` a problem+json response."""
    app.add_exception_handler(DBAPIError, _database_problem)
    app.add_exception_handler(ConnectionError, _database_problem)
    app.add_exception_handler(RequestValidationError, _validation_problem)
    app.add_exception_handler(StarletteHTTPException, _http_problem)
    app.add_exception_handler(HTTPException, _http_problem)


def invalid_field(field: str, message: str, location: str = "query") -> RequestValidationError:
    """A 422 problem naming ``field``, as a request validation failure reads."""
    return RequestValidationError(
        [{"loc": (location, field), "msg": message, "type": "value_error"}]
    )


def not_found(what: str) -> HTTPException:
    """A 404 that does not tell whether the thing exists for another tenant."""
    return HTTPException(404, f"{what} not found")
