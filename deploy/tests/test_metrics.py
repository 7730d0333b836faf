"""Every metric the dashboard and the docs promise is one the services really export."""

import json
import re
from pathlib import Path

from prometheus_client import REGISTRY
from prometheus_client.metrics import MetricWrapperBase

import helpline_notify.service_layer.worker
import helpline_shared.runtime.consumer
import helpline_shared.runtime.http_metrics
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
    # Every service's HTTP API (request rate, 5xx ratio, duration by route template).
    "http_server_request_duration_seconds": "histogram",
}

# The modules that define them (imported for their registrations).
DEFINING_MODULES = (helpline_notify.service_layer.worker, helpline_shared.runtime.consumer,
                    helpline_shared.runtime.http_metrics, helpline_shared.runtime.outbox,
                    helpline_shared.runtime.timers)
METRIC_NAME = re.compile(r"\b(?:helpline|http_server)_[a-z_]+")
# Labels Prometheus adds to every scraped series, and the histogram bucket bound.
TARGET_LABELS = {"job", "instance", "namespace", "pod", "service", "le"}


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


def dashboard_expressions() -> list[str]:
    """Every PromQL expression of the dashboard's panels."""
    return [target["expr"] for panel in json.loads(DASHBOARD.read_text())["panels"]
            for target in panel["targets"]]


def metric_names(expression: str) -> set[str]:
    """The metric families ``expression`` reads (histogram series named by their family)."""
    return {re.sub(r"_(bucket|sum|count)$", "", name) for name in METRIC_NAME.findall(expression)}


def label_names() -> dict[str, set[str]]:
    """Each defined metric's label names, by its scraped family name."""
    labels: dict[str, set[str]] = {}
    for module in DEFINING_MODULES:
        for metric in vars(module).values():
            if isinstance(metric, MetricWrapperBase):
                name = metric._name + ("_total" if metric._type == "counter" else "")
                labels[name] = set(metric._labelnames)
    return labels


def test_the_dashboard_queries_only_exported_metrics() -> None:
    used = set().union(*(metric_names(expr) for expr in dashboard_expressions()))
    assert used - set(exported()) == set()
    assert set(PROMISED) <= used


def test_the_dashboard_groups_and_filters_only_by_labels_the_metrics_have() -> None:
    labels = label_names()
    for expression in dashboard_expressions():
        have = set().union(*(labels[name] for name in metric_names(expression))) | TARGET_LABELS
        grouped = {label.strip() for clause in re.findall(r"by \(([^)]*)\)", expression)
                   for label in clause.split(",")}
        filtered = set(re.findall(r"([a-z_]+)\s*(?:=~|!=|!~|=)\s*\"", expression))
        assert grouped | filtered <= have, expression


def test_http_metrics_label_the_route_template_never_an_id() -> None:
    assert label_names()["http_server_request_duration_seconds"] == {
        "http_route", "http_request_method", "http_response_status_code"}
