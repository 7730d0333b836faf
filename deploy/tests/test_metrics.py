"""Every metric the dashboard and the docs promise is one the services really export."""

import json
import re
from pathlib import Path

from prometheus_client import REGISTRY

import helpline_notify.service_layer.worker
import helpline_shared.runtime.consumer
import helpline_shared.runtime.outbox
import helpline_shared.runtime.timers

OBSERVABILITY = Path(__file__).resolve().parents[1] / "observability"
DASHBOARD = OBSERVABILITY / "grafana-dashboard.json"

# What an operator watches (docs/ARCHITECTURE: consumer lag, handler latency, outbox backlog,
# dead-letter count, overdue timers, delivery failures).
PROMISED = {
    "helpline_consumer_lag": "gauge",
    "helpline_handler_seconds": "histogram",
    "helpline_outbox_backlog": "gauge",
    "helpline_dead_letters_total": "counter",
    "helpline_timers_overdue": "gauge",
    "helpline_notify_attempts_total": "counter",
}

# The modules that define them (imported for their registrations).
DEFINING_MODULES = (helpline_notify.service_layer.worker, helpline_shared.runtime.consumer,
                    helpline_shared.runtime.outbox, helpline_shared.runtime.timers)


def exported() -> dict[str, str]:
    """Metric family names (as scraped) and their types, from the process registry."""
    families: dict[str, str] = {}
    for family in REGISTRY.collect():
        name = family.name + ("_total" if family.type == "counter" else "")
        families[name] = family.type
    return families


def test_the_promised_metrics_are_exported_with_their_types() -> None:
    families = exported()
    assert {name: families.get(name) for name in PROMISED} == PROMISED


def test_the_dashboard_queries_only_exported_metrics() -> None:
    expressions = [target["expr"] for panel in json.loads(DASHBOARD.read_text())["panels"]
                   for target in panel["targets"]]
    used = {re.sub(r"_(bucket|sum|count)$", "", name)
            for expr in expressions for name in re.findall(r"helpline_[a-z_]+", expr)}
    assert used - set(exported()) == set()
    assert set(PROMISED) <= used
