"""Every GET of routing's API reads on a read-only connection: it never takes SQLite's write
lock (no BEGIN IMMEDIATE), so reading never queues behind the consumer's batches."""

from pathlib import Path

from api_support import ADMIN, REPORTS_KEY, routing_api

from helpline_shared.runtime.testing import StatementLog


async def test_no_get_route_begins_a_write_transaction(tmp_path: Path) -> None:
    async with routing_api(tmp_path) as routing:
        agent = await routing.agent("ann", "u-ann")
        log = StatementLog(routing.engine)
        paths = [
            ("/v1/routing/rules", ADMIN),
            ("/v1/routing/rules/versions/0", ADMIN),
            ("/v1/routing/settings", ADMIN),
            ("/v1/agents", ADMIN),
            ("/v1/agents?user_id=u-ann", ADMIN),
            (f"/v1/agents/{agent['id']}", ADMIN),
            ("/v1/reports/agents", REPORTS_KEY),
            ("/v1/tickets/t-unknown/routing", ADMIN),
            ("/v1/offers", ADMIN),
            ("/v1/offers/o-unknown", ADMIN),
        ]
        for path, headers in paths:
            response = await routing.client.get(path, headers=headers)
            assert response.status_code in (200, 404), (path, response.text)
        assert log.count("SELECT") >= len(paths) - 1
        assert log.count("BEGIN IMMEDIATE") == 0
