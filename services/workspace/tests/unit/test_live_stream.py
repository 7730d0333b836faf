"""One browser connection's stream: its messages in the SSE format, and a clean end."""

import asyncio

from helpline_workspace.apis import Apis, Gateway
from helpline_workspace.config import WorkspaceSettings
from helpline_workspace.events import StreamEvent
from helpline_workspace.live import _stream, new_live
from helpline_workspace.sessions import Person, Session


def test_a_ticket_pages_stream_shows_the_viewer_sends_messages_and_cleans_up_on_close() -> None:
    async def scenario() -> None:
        settings = WorkspaceSettings(live_updates=False)
        live = new_live(settings)
        ana = Person("usr-ana", "acme", "Ana Agent", "ana@acme.example", "agent", [])
        session = Session("s-1", "csrf", "UTC", 0.0, person=ana)
        apis = Apis(Gateway(settings), session)
        listener = live.hub.listen("acme", "usr-ana", "agent-ana", "t-1")
        stream = _stream(live, apis, listener, "t-1")

        assert await anext(stream) == "retry: 5000\n\n"
        assert [v.name for v in live.viewers.viewers("acme", "t-1")] == ["Ana Agent"]
        assert await anext(stream) == "event: ready\ndata: {}\n\n"
        live.hub.publish(
            StreamEvent("helpline.ticket.assigned.v1", "acme", "t-2", {"agent_id": "agent-ana"})
        )
        # Its own page is told too (it fetches the list, which leaves Ana out).
        assert await anext(stream) == 'event: viewers\ndata: {"ticket_id": "t-1"}\n\n'
        assert await anext(stream) == (
            'event: work\ndata: {"kind": "assigned", "ticket_id": "t-2"}\n\n'
        )
        await stream.aclose()  # the browser went away

        assert len(live.hub) == 0
        assert live.viewers.viewers("acme", "t-1") == [] and len(live.viewers) == 0
        await apis.gateway.close()

    asyncio.run(scenario())
