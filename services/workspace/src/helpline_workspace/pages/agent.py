"""The agent's pages: My work, Tickets, a ticket."""

from fastapi import APIRouter, Request
from fastapi.responses import Response

from helpline_workspace.web import SignedIn, render

router = APIRouter()


@router.get("/work")
async def my_work(request: Request, apis: SignedIn) -> Response:
    """The tickets assigned to me."""
    page = await apis.get("intake", "/v1/tickets", assignee=apis.person.user_id, limit=100)
    return render(request, "work.html", active="work", tickets=page["items"])
