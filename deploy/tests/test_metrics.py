"""Every metric the dashboard, the alert rules and the docs use is one the services export."""

import json
import re
import subprocess
from pathlib import Path

import pytest
import yaml
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
DEFINING_MODULES = (
    helpline_notify.service_layer.worker,
    helpline_shared.runtime.consumer,
    helpline_shared.runtime.http_metrics,
    helpline_shared.runtime.outbox,
    helpline_shared.runtime.timers,
)
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
    return [
        target["expr"]
        for panel in json.loads(DASHBOARD.read_text())["panels"]
        for target in panel["targets"]
    ]


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
        grouped = {
            label.strip()
            for clause in re.findall(r"by \(([^)]*)\)", expression)
            for label in clause.split(",")
        }
        filtered = set(re.findall(r"([a-z_]+)\s*(?:=~|!=|!~|=)\s*\"", expression))
        assert grouped | filtered <= have, expression


def test_http_metrics_label_the_route_template_never_an_id() -> None:
    assert label_names()["http_server_request_duration_seconds"] == {
        "http_route",
        "http_request_method",
        "http_response_status_code",
    }


# --- The chart's PrometheusRule ---------------------------------------------------------------

CHART = Path(__file__).resolve().parents[1] / "helm" / "helpline"
# Not exported by Helpline: a Kafka Exporter's (Strimzi's kafkaExporter) metric, with its labels;
# the chart README says where it comes from.
KAFKA_EXPORTER = {"kafka_consumergroup_lag": {"consumergroup", "topic", "partition"}}
PROMQL_WORDS = {
    "sum",
    "max",
    "min",
    "avg",
    "count",
    "rate",
    "increase",
    "irate",
    "by",
    "without",
    "and",
    "or",
    "unless",
    "on",
    "ignoring",
    "bool",
    "offset",
    "histogram_quantile",
    "group_left",
    "group_right",
    "clamp_min",
    "abs",
}
RULE_ALERTS = {
    "HelplineConsumerLagHigh",
    "HelplineDeadLetters",
    "HelplineOutboxBacklog",
    "HelplineTimersOverdue",
    "HelplineDeliveryFailures",
    "HelplineHttpErrors",
}


def rule_expressions(helm: Path, *values: str) -> dict[str, str]:
    """Each alert of the rendered PrometheusRule and its expression."""
    rendered = subprocess.run(
        [
            str(helm),
            "template",
            "helpline",
            str(CHART),
            "--kube-version",
            "1.33.0",
            "--set",
            "telemetry.prometheusRule.enabled=true",
            *values,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    [rule] = [m for m in yaml.safe_load_all(rendered) if m and m["kind"] == "PrometheusRule"]
    return {
        item["alert"]: item["expr"] for group in rule["spec"]["groups"] for item in group["rules"]
    }


def promql_metrics(expression: str) -> set[str]:
    """The metric names ``expression`` reads: identifiers outside matchers, groupings, ranges."""
    bare = re.sub(r'"[^"]*"', "", expression)
    bare = re.sub(r"\{[^}]*\}|\[[^\]]*\]|\b(?:by|without|on|ignoring)\s*\([^)]*\)", "", bare)
    names = set(re.findall(r"[a-zA-Z_:][a-zA-Z0-9_:]*", bare)) - PROMQL_WORDS
    return {re.sub(r"_(bucket|sum|count)$", "", name) for name in names}


def promql_labels(expression: str) -> set[str]:
    """The label names ``expression`` groups or filters by."""
    grouped = {
        label.strip()
        for clause in re.findall(r"\b(?:by|without)\s*\(([^)]*)\)", expression)
        for label in clause.split(",")
        if label.strip()
    }
    filtered = {
        name
        for matchers in re.findall(r"\{([^}]*)\}", expression)
        for name in re.findall(r"([a-zA-Z_]+)\s*(?:=~|!=|!~|=)", matchers)
    }
    return grouped | filtered


@pytest.mark.parametrize("lag_source", ["helpline", "kafkaExporter"])
def test_alert_rules_read_only_exported_metrics_and_their_labels(
    helm: Path, lag_source: str
) -> None:
    rules = rule_expressions(helm, "--set", f"telemetry.prometheusRule.lagSource={lag_source}")
    assert set(rules) == RULE_ALERTS
    labels = {**label_names(), **KAFKA_EXPORTER}
    for alert, expression in rules.items():
        used = promql_metrics(expression)
        assert used and used <= set(exported()) | set(KAFKA_EXPORTER), (alert, used)
        have = set().union(*(labels[name] for name in used)) | TARGET_LABELS
        assert promql_labels(expression) <= have, (alert, expression)
    lag = promql_metrics(rules["HelplineConsumerLagHigh"])
    assert lag == (
        {"helpline_consumer_lag"} if lag_source == "helpline" else {"kafka_consumergroup_lag"}
    )


def test_the_metric_check_finds_an_unknown_name() -> None:
    expression = 'sum by (topic) (rate(helpline_made_up_total{namespace="x"}[5m])) > 1'
    assert promql_metrics(expression) == {"helpline_made_up_total"}
    assert promql_labels(expression) == {"topic", "namespace"}


def test_the_kafka_exporter_metrics_are_documented_in_the_chart_readme() -> None:
    readme = (CHART / "README.md").read_text()
    assert all(f"`{name}`" in readme for name in KAFKA_EXPORTER)
