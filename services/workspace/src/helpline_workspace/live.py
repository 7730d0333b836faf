"""Live pages: server-sent events fed by the event stream, presence kept alive, who is viewing.

(The foundation leaves this module empty: ``start``/``stop`` run with the app, ``router`` holds
its routes.)
"""

from fastapi import APIRouter, FastAPI

router = APIRouter()


async def start(app: FastAPI) -> None:
    """Start what live pages need (a Kafka consumer feeding the browsers' event streams)."""


async def stop(app: FastAPI) -> None:
    """Stop it."""
