"""The Helm chart lints, renders objects valid against their schemas and refuses bad values.

Kubernetes objects are checked with kubernetes-validate's bundled schemas, custom resources
(Strimzi, KEDA, Prometheus Operator) with the CRDs vendored in ``crds/``.
"""

import json
import re
import subprocess
from collections.abc import Iterator, Mapping
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from kubernetes_validate import utils as kubernetes_schemas

from helpline_cli.settings_doc import settings_class
from helpline_shared import topics
from helpline_shared.kafka_acls import (
    CLUSTER,
    READER_ACCESS,
    SERVICE_ACCESS,
    Acl,
    reader_acls,
    service_acls,
    service_user,
)
from helpline_shared.runtime.settings import variable_names
from helpline_shared.runtime.telemetry import KUBERNETES_ATTRIBUTES

# The first test may build the tool from its Go module (minutes, once per machine).
pytestmark = pytest.mark.timeout(1800)

CHART = Path(__file__).resolve().parents[1] / "helm" / "helpline"
CRDS = Path(__file__).resolve().parent / "crds"
KUBERNETES_VERSION = "1.33.0"

Manifest = dict[str, Any]


class RenderFailed(AssertionError):
    """``helm template`` refused the values."""


def helm_template(helm: Path, *arguments: str) -> list[Manifest]:
    """Render the chart with ``arguments`` (``-f``, ``--set``) and return its objects."""
    result = subprocess.run(
        [
            str(helm),
            "template",
            "helpline",
            str(CHART),
            "--kube-version",
            KUBERNETES_VERSION,
            *arguments,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if result.returncode != 0:
        raise RenderFailed(result.stderr)
    return [document for document in yaml.safe_load_all(result.stdout) if document]


def _closed(schema: Any) -> Any:
    """Reject unknown fields as the API server does, except where the CRD keeps them."""
    if isinstance(schema, list):
        return [_closed(item) for item in schema]
    if not isinstance(schema, Mapping):
        return schema
    closed = {key: _closed(value) for key, value in schema.items()}
    if (
        "properties" in closed
        and "additionalProperties" not in closed
        and not closed.get("x-kubernetes-preserve-unknown-fields")
    ):
        closed["additionalProperties"] = False
    return closed


@cache
def _crd_schemas() -> dict[tuple[str, str], dict[str, Any]]:
    schemas: dict[tuple[str, str], dict[str, Any]] = {}
    for path in CRDS.glob("*/*.yaml"):
        crd = yaml.safe_load(path.read_text())
        group, kind = crd["spec"]["group"], crd["spec"]["names"]["kind"]
        for version in crd["spec"]["versions"]:
            schema = _closed(version["schema"]["openAPIV3Schema"])
            schema["properties"]["metadata"] = {"type": "object"}
            schemas[(f"{group}/{version['name']}", kind)] = schema
    return schemas


def schema_errors(manifest: Manifest) -> Iterator[str]:
    """Every way ``manifest`` breaks its schema, one line each (nothing when it is valid)."""
    name = f"{manifest.get('kind')} {manifest.get('metadata', {}).get('name')}"
    key = (manifest.get("apiVersion", ""), manifest.get("kind", ""))
    if key in _crd_schemas():
        validator = jsonschema.Draft7Validator(_crd_schemas()[key])
        for error in validator.iter_errors(manifest):
            yield f"{name}: {'/'.join(map(str, error.absolute_path))}: {error.message}"
        return
    try:
        kubernetes_schemas.validate(manifest, KUBERNETES_VERSION, strict=True)
    except kubernetes_schemas.SchemaNotFoundError:
        yield f"{name}: no schema for {key}"
    except kubernetes_schemas.ValidationError as error:
        yield f"{name}: {'/'.join(map(str, error.path))}: {error.message}"


KEDA_CLUSTER = ("--api-versions", "keda.sh/v1alpha1/ScaledObject")
PRODUCTION = ("-f", str(CHART / "values-production.yaml"), *KEDA_CLUSTER)
VALUE_SETS = {
    "default": (),
    "production": PRODUCTION,
    "production-without-keda": ("-f", str(CHART / "values-production.yaml")),
}


@pytest.mark.parametrize("values", [(), PRODUCTION[:2]], ids=["default", "production"])
def test_helm_lint_passes(helm: Path, values: tuple[str, ...]) -> None:
    result = subprocess.run(
        [str(helm), "lint", "--strict", str(CHART), "--kube-version", KUBERNETES_VERSION, *values],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("values", VALUE_SETS.values(), ids=VALUE_SETS.keys())
def test_every_rendered_object_is_valid_against_its_schema(
    helm: Path, values: tuple[str, ...]
) -> None:
    manifests = helm_template(helm, *values)
    errors = [error for manifest in manifests for error in schema_errors(manifest)]
    assert manifests and errors == []


def test_production_values_render_strimzi_keda_and_monitoring(helm: Path) -> None:
    kinds = {manifest["kind"] for manifest in helm_template(helm, *PRODUCTION)}
    assert {"KafkaTopic", "KafkaUser", "ScaledObject", "ServiceMonitor", "Ingress"} <= kinds


def test_autoscaling_falls_back_to_a_cpu_hpa_without_keda(helm: Path) -> None:
    without_keda = helm_template(helm, "-f", str(CHART / "values-production.yaml"))
    kinds = [manifest["kind"] for manifest in without_keda]
    assert kinds.count("HorizontalPodAutoscaler") == 6 and "ScaledObject" not in kinds
    deployments = [m for m in without_keda if m["kind"] == "Deployment"]
    assert all("replicas" not in deployment["spec"] for deployment in deployments)


def test_scaled_objects_scale_consumers_on_their_group_lag(helm: Path) -> None:
    scaled = {
        m["metadata"]["name"]: m
        for m in helm_template(helm, *PRODUCTION)
        if m["kind"] == "ScaledObject"
    }
    triggers = scaled["helpline-notify"]["spec"]["triggers"]
    lag = [t["metadata"] for t in triggers if t["type"] == "kafka"]
    assert {t["topic"] for t in lag} == {
        topics.TICKETS,
        topics.ROUTING,
        topics.SLA,
        topics.IDENTITY,
    }
    assert {t["consumerGroup"] for t in lag} == {"helpline-notify"}


def test_schema_check_catches_an_unknown_field(helm: Path) -> None:
    topic = next(m for m in helm_template(helm) if m["kind"] == "KafkaTopic")
    topic["spec"]["partitionz"] = 3
    assert any("partitionz" in error for error in schema_errors(topic))


def test_kafka_topics_match_the_shared_topic_list(helm: Path) -> None:
    rendered = [m["spec"]["topicName"] for m in helm_template(helm) if m["kind"] == "KafkaTopic"]
    assert sorted(rendered) == sorted(topics.all_topics())


def test_dead_letter_topics_keep_records_longer(helm: Path) -> None:
    retention = {
        m["spec"]["topicName"]: m["spec"]["config"]["retention.ms"]
        for m in helm_template(helm)
        if m["kind"] == "KafkaTopic"
    }
    dead_letter = topics.dead_letter_topic(topics.TICKETS)
    assert retention[dead_letter] > retention[topics.TICKETS]


def test_each_service_user_may_touch_only_its_own_topics(helm: Path) -> None:
    users = {
        m["metadata"]["name"]: m
        for m in helm_template(helm, *PRODUCTION)
        if m["kind"] == "KafkaUser"
    }
    routing_acls = users["helpline-routing"]["spec"]["authorization"]["acls"]
    written = {acl["resource"]["name"] for acl in routing_acls if "Write" in acl["operations"]}
    assert written == {
        topics.ROUTING,
        topics.AUDIT,
        topics.dead_letter_topic(topics.TICKETS),
        topics.dead_letter_topic(topics.SLA),
        topics.dead_letter_topic(topics.IDENTITY),
    }


def _granted(user: Manifest) -> frozenset[Acl]:
    """A KafkaUser's ACLs, one per operation, as :class:`Acl` values."""
    return frozenset(
        Acl(
            acl["resource"]["type"],
            acl["resource"].get("name", CLUSTER),
            acl["resource"].get("patternType", "literal"),
            operation,
        )
        for acl in user["spec"]["authorization"]["acls"]
        for operation in acl["operations"]
    )


@pytest.mark.parametrize("prefix", ["", "staging."])
def test_kafka_users_grant_exactly_the_shared_acl_table(helm: Path, prefix: str) -> None:
    users = {
        m["metadata"]["name"]: m
        for m in helm_template(helm, *PRODUCTION, "--set", f"kafka.topicPrefix={prefix}")
        if m["kind"] == "KafkaUser"
    }
    assert set(users) == {service_user(name) for name in (*SERVICE_ACCESS, *READER_ACCESS)}
    for service in SERVICE_ACCESS:
        assert _granted(users[service_user(service)]) == service_acls(service, prefix), service
    for reader in READER_ACCESS:
        assert _granted(users[service_user(reader)]) == reader_acls(reader, prefix), reader


def _env(container: Manifest) -> dict[str, Any]:
    return {item["name"]: item.get("value", item.get("valueFrom")) for item in container["env"]}


def test_each_deployment_logs_in_as_its_own_kafka_user_over_tls(helm: Path) -> None:
    manifests = helm_template(helm, *PRODUCTION)
    configmap = next(m for m in manifests if m["kind"] == "ConfigMap")
    assert configmap["data"]["HELPLINE_KAFKA_SECURITY_PROTOCOL"] == "SASL_SSL"
    assert configmap["data"]["HELPLINE_KAFKA_SASL_MECHANISM"] == "SCRAM-SHA-512"
    users = {m["metadata"]["name"] for m in manifests if m["kind"] == "KafkaUser"}
    for deployment in (m for m in manifests if m["kind"] == "Deployment"):
        service = deployment["metadata"]["name"].removeprefix("helpline-")
        pod = deployment["spec"]["template"]["spec"]
        env = _env(pod["containers"][0])
        assert env["HELPLINE_KAFKA_SASL_USERNAME"] == service_user(service) in users
        assert env["HELPLINE_KAFKA_SASL_PASSWORD"] == {
            "secretKeyRef": {"name": service_user(service), "key": "password"}
        }
        [mount] = [m for m in pod["containers"][0]["volumeMounts"] if m["name"] == "kafka-ca"]
        assert env["HELPLINE_KAFKA_SSL_CA_FILE"] == mount["mountPath"] + "/ca.crt"
        [volume] = [v for v in pod["volumes"] if v["name"] == "kafka-ca"]
        assert volume["secret"]["secretName"] == "helpline-kafka-cluster-ca-cert"


def test_keda_reads_the_lag_as_the_service_user(helm: Path) -> None:
    manifests = helm_template(helm, *PRODUCTION)
    authentications = {
        m["metadata"]["name"]: m["spec"] for m in manifests if m["kind"] == "TriggerAuthentication"
    }
    for scaled in (m for m in manifests if m["kind"] == "ScaledObject"):
        service = scaled["metadata"]["name"].removeprefix("helpline-")
        lag = [t for t in scaled["spec"]["triggers"] if t["type"] == "kafka"]
        assert [t["metadata"]["topic"] for t in lag] == list(
            SERVICE_ACCESS[service].subscriptions[0].topics
        )
        for trigger in lag:
            assert trigger["metadata"]["sasl"] == "scram_sha512"
            assert trigger["metadata"]["tls"] == "enable"
            spec = authentications[trigger["authenticationRef"]["name"]]
            secrets = {ref["parameter"]: ref for ref in spec["secretTargetRef"]}
            assert secrets["password"]["name"] == service_user(service)
            assert secrets["ca"]["name"] == "helpline-kafka-cluster-ca-cert"
            assert spec["env"] == [
                {
                    "parameter": "username",
                    "containerName": service,
                    "name": "HELPLINE_KAFKA_SASL_USERNAME",
                }
            ]


def test_plaintext_kafka_renders_no_kafka_credentials(helm: Path) -> None:
    manifests = helm_template(helm)
    assert not [m for m in manifests if m["kind"] == "TriggerAuthentication"]
    for deployment in (m for m in manifests if m["kind"] == "Deployment"):
        env = _env(deployment["spec"]["template"]["spec"]["containers"][0])
        assert not [name for name in env if name.startswith("HELPLINE_KAFKA_")]


def test_deployments_are_hardened_and_probed(helm: Path) -> None:
    deployments = [m for m in helm_template(helm) if m["kind"] == "Deployment"]
    assert len(deployments) == 6
    for deployment in deployments:
        pod = deployment["spec"]["template"]["spec"]
        container = pod["containers"][0]
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert container["securityContext"]["readOnlyRootFilesystem"] is True
        assert container["securityContext"]["allowPrivilegeEscalation"] is False
        assert container["securityContext"]["capabilities"]["drop"] == ["ALL"]
        assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
        assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
        assert container["startupProbe"]["httpGet"]["path"] == "/healthz"
        assert container["resources"]["limits"] and container["resources"]["requests"]
        assert pod["topologySpreadConstraints"]


def test_intake_keeps_attachments_on_the_given_claim(helm: Path) -> None:
    intake = next(
        m
        for m in helm_template(helm, *PRODUCTION)
        if m["kind"] == "Deployment" and m["metadata"]["name"] == "helpline-intake"
    )
    pod = intake["spec"]["template"]["spec"]
    claims = [
        v["persistentVolumeClaim"]["claimName"]
        for v in pod["volumes"]
        if "persistentVolumeClaim" in v
    ]
    assert claims == ["helpline-attachments"]
    assert {"name": "HELPLINE_ATTACHMENTS_DIR", "value": "/var/lib/helpline/attachments"} in pod[
        "containers"
    ][0]["env"]


def test_no_secret_value_is_rendered_by_default(helm: Path) -> None:
    manifests = helm_template(helm)
    assert not [m for m in manifests if m["kind"] == "Secret"]
    configmap = next(m for m in manifests if m["kind"] == "ConfigMap")
    assert not any("SECRET" in key or "DATABASE_URL" in key for key in configmap["data"])


def test_migrations_run_before_upgrades_in_each_service_image(helm: Path) -> None:
    jobs = [m for m in helm_template(helm) if m["kind"] == "Job"]
    assert {job["metadata"]["annotations"]["helm.sh/hook"] for job in jobs} == {
        "pre-install,pre-upgrade"
    }
    images = sorted(job["spec"]["template"]["spec"]["containers"][0]["image"] for job in jobs)
    assert [image.split("/")[-1].split(":")[0] for image in images] == [
        "helpline-escalation",
        "helpline-identity",
        "helpline-intake",
        "helpline-notify",
        "helpline-routing",
    ]
    assert all(
        job["spec"]["template"]["spec"]["containers"][0]["args"] == ["migrate"] for job in jobs
    )


@pytest.mark.parametrize(
    ("setting", "expected"),
    [
        ("services.intake.replicas=-1", "at '/services/intake/replicas': minimum: got -1, want 0"),
        ("database.existingSecret=null", "missing property 'existingSecret'"),
        ("database.existingSecret=", "at '/database/existingSecret': minLength: got 0, want 1"),
        ("logLevel=LOUD", "at '/logLevel': value must be one of 'DEBUG', 'INFO', 'WARNING'"),
    ],
    ids=["negative-replicas", "no-database-secret", "empty-database-secret", "unknown-log-level"],
)
def test_bad_values_are_rejected_with_a_clear_message(
    helm: Path, setting: str, expected: str
) -> None:
    with pytest.raises(RenderFailed) as refused:
        helm_template(helm, "--set", setting)
    assert "values don't meet the specifications of the schema" in str(refused.value)
    assert expected in str(refused.value)


# Telemetry: Kubernetes attributes from the downward API, OTLP protocol, environment.
TELEMETRY_FIELDS = {
    "K8S_POD_NAME": "metadata.name",
    "K8S_POD_UID": "metadata.uid",
    "K8S_NAMESPACE_NAME": "metadata.namespace",
    "K8S_NODE_NAME": "spec.nodeName",
}


def test_every_pod_gets_its_kubernetes_attributes_from_the_downward_api(helm: Path) -> None:
    assert set(TELEMETRY_FIELDS) == set(KUBERNETES_ATTRIBUTES.values())
    deployments = [m for m in helm_template(helm) if m["kind"] == "Deployment"]
    assert len(deployments) == len(SERVICE_ACCESS) + len(READER_ACCESS)
    for deployment in deployments:
        env = deployment["spec"]["template"]["spec"]["containers"][0]["env"]
        from_fields = {
            item["name"]: item["valueFrom"]["fieldRef"]["fieldPath"]
            for item in env
            if "fieldRef" in item.get("valueFrom", {})
        }
        assert from_fields == TELEMETRY_FIELDS


def test_production_exports_over_otlp_with_protocol_and_environment(helm: Path) -> None:
    configmap = next(m for m in helm_template(helm, *PRODUCTION) if m["kind"] == "ConfigMap")
    assert configmap["data"]["OTEL_EXPORTER_OTLP_ENDPOINT"].endswith(":4318")
    assert configmap["data"]["OTEL_EXPORTER_OTLP_PROTOCOL"] == "http/protobuf"
    assert configmap["data"]["HELPLINE_ENVIRONMENT"] == "production"
    grpc = next(
        m
        for m in helm_template(helm, *PRODUCTION, "--set", "telemetry.otlpProtocol=grpc")
        if m["kind"] == "ConfigMap"
    )
    assert grpc["data"]["OTEL_EXPORTER_OTLP_PROTOCOL"] == "grpc"
    default = next(m for m in helm_template(helm) if m["kind"] == "ConfigMap")
    assert not {"OTEL_EXPORTER_OTLP_PROTOCOL", "HELPLINE_ENVIRONMENT"} & set(default["data"])


def test_an_unknown_otlp_protocol_is_refused(helm: Path) -> None:
    with pytest.raises(RenderFailed, match="otlpProtocol"):
        helm_template(helm, "--set", "telemetry.otlpProtocol=http/json")


# --- Wiring between the services: URLs and NetworkPolicies ------------------------------------

RELEASE_NAMESPACE = "default"


def _matches(selector: Mapping[str, Any] | None, labels: Mapping[str, str]) -> bool:
    """Whether a label selector (matchLabels only, as the chart writes them) selects ``labels``."""
    if selector is None:
        return True
    assert set(selector) <= {"matchLabels"}, selector
    return all(labels.get(key) == value for key, value in selector.get("matchLabels", {}).items())


def _peer_admits(peer: Mapping[str, Any], pod: Mapping[str, str], namespace: str) -> bool:
    """NetworkPolicy peer semantics: podSelector alone is the policy's namespace."""
    namespace_labels = {"kubernetes.io/metadata.name": namespace}
    if "namespaceSelector" in peer:
        return _matches(peer["namespaceSelector"], namespace_labels) and _matches(
            peer.get("podSelector"), pod
        )
    return namespace == RELEASE_NAMESPACE and _matches(peer.get("podSelector"), pod)


def _port_admits(ports: list[Mapping[str, Any]] | None, port: int) -> bool:
    return ports is None or any(
        p["port"] == port and p.get("protocol", "TCP") == "TCP" for p in ports
    )


def pod_labels(service: str) -> dict[str, str]:
    return {
        "app.kubernetes.io/name": "helpline",
        "app.kubernetes.io/instance": "helpline",
        "app.kubernetes.io/component": service,
    }


def policy_of(manifests: list[Manifest], service: str) -> Manifest:
    [policy] = [
        m
        for m in manifests
        if m["kind"] == "NetworkPolicy" and _matches(m["spec"]["podSelector"], pod_labels(service))
    ]
    return policy


def admits_ingress(policy: Manifest, pod: Mapping[str, str], namespace: str, port: int) -> bool:
    """Whether ``policy`` lets a pod with ``pod`` labels in ``namespace`` connect to ``port``."""
    return any(
        _port_admits(rule.get("ports"), port)
        and ("from" not in rule or any(_peer_admits(peer, pod, namespace) for peer in rule["from"]))
        for rule in policy["spec"].get("ingress", [])
    )


def admits_egress(policy: Manifest, pod: Mapping[str, str], namespace: str, port: int) -> bool:
    """Whether ``policy`` lets its pods connect to ``port`` of a pod with ``pod`` labels."""
    return any(
        _port_admits(rule.get("ports"), port)
        and ("to" not in rule or any(_peer_admits(peer, pod, namespace) for peer in rule["to"]))
        for rule in policy["spec"].get("egress", [])
    )


def deployment_of(manifests: list[Manifest], service: str) -> Manifest:
    return next(
        m
        for m in manifests
        if m["kind"] == "Deployment" and m["metadata"]["name"] == f"helpline-{service}"
    )


@pytest.mark.parametrize("values", VALUE_SETS.values(), ids=VALUE_SETS.keys())
def test_escalation_gets_intakes_in_cluster_url(helm: Path, values: tuple[str, ...]) -> None:
    manifests = helm_template(helm, *values)
    env = _env(deployment_of(manifests, "escalation")["spec"]["template"]["spec"]["containers"][0])
    service = next(
        m
        for m in manifests
        if m["kind"] == "Service" and m["metadata"]["name"] == "helpline-intake"
    )
    [port] = [p["port"] for p in service["spec"]["ports"] if p["name"] == "http"]
    assert env["HELPLINE_INTAKE_URL"] == f"http://helpline-intake:{port}"


@pytest.mark.parametrize("values", VALUE_SETS.values(), ids=VALUE_SETS.keys())
def test_network_policies_let_escalation_reach_intake_and_intake_reach_imaps(
    helm: Path, values: tuple[str, ...]
) -> None:
    manifests = helm_template(helm, *values)
    intake, escalation = policy_of(manifests, "intake"), policy_of(manifests, "escalation")
    assert admits_egress(escalation, pod_labels("intake"), RELEASE_NAMESPACE, 8080)
    assert admits_ingress(intake, pod_labels("escalation"), RELEASE_NAMESPACE, 8080)
    assert admits_egress(intake, {}, "mail-provider", 993)
    for service in ("intake", "routing", "escalation", "notify"):
        policy = policy_of(manifests, service)
        assert admits_egress(policy, {"k8s-app": "kube-dns"}, "kube-system", 53), service


def test_production_policies_admit_prometheus_and_callers_only(helm: Path) -> None:
    manifests = helm_template(helm, *PRODUCTION)
    prometheus = {"app.kubernetes.io/name": "prometheus"}
    ports = {"intake": 8080, "routing": 8081, "escalation": 8082, "notify": 8083}
    for service, port in ports.items():
        policy = policy_of(manifests, service)
        assert admits_ingress(policy, prometheus, "monitoring", port), service
        # Limited: neither another namespace nor another pod of the monitoring namespace.
        assert not admits_ingress(policy, prometheus, "tenants", port), service
        assert not admits_ingress(policy, {"app": "grafana"}, "monitoring", port), service
        assert admits_ingress(policy, {}, "ingress-nginx", port), service
    intake = policy_of(manifests, "intake")
    assert admits_ingress(intake, pod_labels("escalation"), RELEASE_NAMESPACE, 8080)
    assert not admits_ingress(intake, pod_labels("routing"), RELEASE_NAMESPACE, 8080)
    assert admits_ingress(intake, {}, "mail", 2525)
    assert not admits_egress(intake, {}, "mail-provider", 143)


def test_another_imap_port_and_metrics_sources_are_values(helm: Path) -> None:
    manifests = helm_template(
        helm,
        "--set",
        "services.intake.egress[0].ports[0].port=143",
        "--set",
        r"networkPolicy.metricsFrom[0].namespaceSelector.matchLabels"
        r".kubernetes\.io/metadata\.name=observability",
        "--set",
        "services.routing.ingressFrom[0].podSelector.matchLabels.app=console",
    )
    assert admits_egress(policy_of(manifests, "intake"), {}, "mail-provider", 143)
    routing = policy_of(manifests, "routing")
    assert admits_ingress(routing, {"app": "console"}, RELEASE_NAMESPACE, 8081)
    assert not admits_ingress(routing, {"app": "other"}, RELEASE_NAMESPACE, 8081)
    assert admits_ingress(routing, {}, "observability", 8081)


# --- Monitoring, scheduling, images, ingress --------------------------------------------------


def test_production_renders_alert_rules_and_monitors_for_kube_prometheus_stack(helm: Path) -> None:
    manifests = helm_template(helm, *PRODUCTION)
    [rule] = [m for m in manifests if m["kind"] == "PrometheusRule"]
    [monitor] = [m for m in manifests if m["kind"] == "ServiceMonitor"]
    assert rule["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    assert monitor["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    alerts = [r["alert"] for group in rule["spec"]["groups"] for r in group["rules"]]
    assert len(alerts) == 6 and all(
        r.get("for") for g in rule["spec"]["groups"] for r in g["rules"]
    )
    assert not [m for m in helm_template(helm) if m["kind"] == "PrometheusRule"]


def test_scheduling_is_global_and_per_service(helm: Path) -> None:
    manifests = helm_template(
        helm,
        "--set",
        "nodeSelector.pool=helpline",
        "--set",
        "priorityClassName=standard",
        "--set",
        "tolerations[0].key=dedicated",
        "--set",
        "tolerations[0].operator=Exists",
        "--set",
        "podAnnotations.team=support",
        "--set",
        "podLabels.tier=backend",
        "--set",
        "services.notify.nodeSelector.pool=egress",
        "--set",
        "services.notify.priorityClassName=low",
        "--set",
        "services.notify.podAnnotations.team=messaging",
        "--set",
        "services.notify.podLabels.app\\.kubernetes\\.io/component=hijacked",
        "--set",
        "services.intake.topologySpreadConstraints[0].maxSkew=2",
        "--set",
        "services.intake.topologySpreadConstraints[0].topologyKey=rack",
        "--set",
        "services.intake.topologySpreadConstraints[0].whenUnsatisfiable=DoNotSchedule",
        "--set",
        "affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution"
        ".nodeSelectorTerms[0].matchExpressions[0].key=arch",
        "--set",
        "affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution"
        ".nodeSelectorTerms[0].matchExpressions[0].operator=Exists",
    )
    assert [error for m in manifests for error in schema_errors(m)] == []
    pods = {
        name: deployment_of(manifests, name)["spec"]["template"] for name in ("intake", "notify")
    }
    assert pods["intake"]["spec"]["nodeSelector"] == {"pool": "helpline"}
    assert pods["notify"]["spec"]["nodeSelector"] == {"pool": "egress"}
    assert pods["intake"]["spec"]["priorityClassName"] == "standard"
    assert pods["notify"]["spec"]["priorityClassName"] == "low"
    assert pods["notify"]["spec"]["tolerations"] == [{"key": "dedicated", "operator": "Exists"}]
    assert "nodeAffinity" in pods["notify"]["spec"]["affinity"]
    assert pods["intake"]["metadata"]["annotations"]["team"] == "support"
    assert pods["notify"]["metadata"]["annotations"]["team"] == "messaging"
    assert pods["intake"]["metadata"]["labels"]["tier"] == "backend"
    # The selector labels cannot be overridden: the Deployment would lose its pods.
    assert pods["notify"]["metadata"]["labels"]["app.kubernetes.io/component"] == "notify"
    [rack] = [
        c for c in pods["intake"]["spec"]["topologySpreadConstraints"] if c["topologyKey"] == "rack"
    ]
    assert rack["labelSelector"] == {"matchLabels": pod_labels("intake")}
    assert len(pods["intake"]["spec"]["topologySpreadConstraints"]) == 3
    # The migration Jobs run where the service may run (tainted nodes too), without the spread.
    job = next(
        m
        for m in manifests
        if m["kind"] == "Job" and m["metadata"]["name"] == "helpline-notify-migrate"
    )["spec"]["template"]["spec"]
    assert job["nodeSelector"] == {"pool": "egress"} and job["priorityClassName"] == "low"
    assert job["tolerations"] == pods["notify"]["spec"]["tolerations"]
    assert "topologySpreadConstraints" not in job


@pytest.mark.parametrize("native", [False, True])
def test_pods_drain_from_endpoints_before_sigterm(helm: Path, native: bool) -> None:
    manifests = helm_template(helm, "--set", f"preStop.native={str(native).lower()}")
    assert [error for m in manifests for error in schema_errors(m)] == []
    for deployment in (m for m in manifests if m["kind"] == "Deployment"):
        pre_stop = deployment["spec"]["template"]["spec"]["containers"][0]["lifecycle"]["preStop"]
        assert pre_stop == (
            {"sleep": {"seconds": 5}} if native else {"exec": {"command": ["sleep", "5"]}}
        )
    none = helm_template(helm, "--set", "preStop.sleepSeconds=0")
    assert all(
        "lifecycle" not in m["spec"]["template"]["spec"]["containers"][0]
        for m in none
        if m["kind"] == "Deployment"
    )


def test_a_grace_period_shorter_than_drain_and_shutdown_is_refused(helm: Path) -> None:
    with pytest.raises(RenderFailed, match="terminationGracePeriodSeconds"):
        helm_template(helm, "--set", "terminationGracePeriodSeconds=25")


DIGEST = "sha256:" + "ab" * 32


def test_an_image_digest_pins_the_services_image(helm: Path) -> None:
    manifests = helm_template(
        helm,
        "--set",
        f"services.intake.image.digest={DIGEST}",
        "--set",
        "services.notify.image.tag=0.2.0-rc1",
    )
    images = {
        m["metadata"]["name"]: m["spec"]["template"]["spec"]["containers"][0]["image"]
        for m in manifests
        if m["kind"] in {"Deployment", "Job"}
    }
    assert images["helpline-intake"] == f"ghcr.io/helpline/helpline-intake@{DIGEST}"
    assert images["helpline-intake-migrate"] == images["helpline-intake"]
    assert images["helpline-notify"] == "ghcr.io/helpline/helpline-notify:0.2.0-rc1"
    assert images["helpline-routing"] == "ghcr.io/helpline/helpline-routing:0.1.0"
    with pytest.raises(RenderFailed, match="digest"):
        helm_template(helm, "--set", "services.intake.image.digest=latest")


def test_each_exposed_api_gets_its_own_ingress(helm: Path) -> None:
    ingresses = {
        m["metadata"]["name"]: m["spec"]
        for m in helm_template(helm, *PRODUCTION)
        if m["kind"] == "Ingress"
    }
    assert set(ingresses) == {
        f"helpline-{name}" for name in ("intake", "routing", "escalation", "notify", "workspace")
    }
    routing = ingresses["helpline-routing"]
    assert routing["rules"][0]["host"] == "routing-api.example.com"
    assert (
        routing["rules"][0]["http"]["paths"][0]["backend"]["service"]["name"] == "helpline-routing"
    )
    assert routing["tls"] == [
        {"hosts": ["routing-api.example.com"], "secretName": "routing-api-tls"}
    ]
    assert ingresses["helpline-intake"]["tls"][0]["secretName"] == "support-api-tls"


def test_two_apis_on_one_host_and_path_are_refused(helm: Path) -> None:
    with pytest.raises(RenderFailed, match="its own host"):
        helm_template(
            helm, "--set", "ingress.enabled=true", "--set", "services.routing.ingress.enabled=true"
        )


IDENTITY = {
    "services": {
        "identity": {
            "replicas": 2,
            "httpPort": 8084,
            "consumes": [],
            "produces": [],
            "ingress": {"enabled": True, "host": "identity-api.example.com"},
            "resources": {"requests": {"cpu": "50m"}, "limits": {"cpu": "1"}},
        },
        "intake": {"calls": {"identity": "HELPLINE_IDENTITY_URL"}},
    }
}


def test_a_new_service_needs_only_values(helm: Path, tmp_path: Path) -> None:
    values = tmp_path / "identity.yaml"
    values.write_text(yaml.safe_dump(IDENTITY))
    manifests = helm_template(helm, *PRODUCTION, "-f", str(values))
    assert [error for m in manifests for error in schema_errors(m)] == []
    named = {(m["kind"], m["metadata"]["name"]) for m in manifests}
    for kind in ("Deployment", "Service", "NetworkPolicy", "Ingress", "Job"):
        assert any(k == kind and "identity" in n for k, n in named), kind
    intake_env = _env(
        deployment_of(manifests, "intake")["spec"]["template"]["spec"]["containers"][0]
    )
    assert intake_env["HELPLINE_IDENTITY_URL"] == "http://helpline-identity:8084"
    assert admits_ingress(
        policy_of(manifests, "identity"), pod_labels("intake"), RELEASE_NAMESPACE, 8084
    )


SERVICES = ("intake", "routing", "escalation", "notify")


def test_every_service_trusts_identity_and_no_token_secret_is_left(helm: Path) -> None:
    manifests = helm_template(helm, *PRODUCTION)
    rendered = yaml.safe_dump_all(manifests)
    # The reply-token secret (signed Reply-To addresses) is not the old shared token secret.
    assert not re.search(r"\bHELPLINE_TOKEN_SECRET\b|(?<!reply-)token-secret", rendered)
    identity_url = "http://helpline-identity:8084"
    for service in SERVICES:
        env = _env(deployment_of(manifests, service)["spec"]["template"]["spec"]["containers"][0])
        assert env["HELPLINE_IDENTITY_URL"] == identity_url, service
        assert env["HELPLINE_IDENTITY_ISSUER"] == identity_url, service
        assert admits_ingress(
            policy_of(manifests, "identity"), pod_labels(service), RELEASE_NAMESPACE, 8084
        ), service
    identity = _env(
        deployment_of(manifests, "identity")["spec"]["template"]["spec"]["containers"][0]
    )
    assert identity["HELPLINE_ISSUER"] == identity_url
    assert identity["HELPLINE_OPERATOR_KEY_SHA256"] == {
        "secretKeyRef": {"name": "helpline-auth-keys", "key": "operator-key-sha256"}
    }


def test_escalation_and_notify_alone_get_their_service_keys_from_the_auth_secret(
    helm: Path,
) -> None:
    manifests = helm_template(helm, "--set", "auth.issuer=https://id.example.com")
    for service in (*SERVICES, "identity"):
        env = _env(deployment_of(manifests, service)["spec"]["template"]["spec"]["containers"][0])
        if service in ("escalation", "notify"):
            assert env["HELPLINE_INTAKE_SERVICE_KEY"] == {
                "secretKeyRef": {
                    "name": "helpline-auth",
                    "key": f"{service}-service-key",
                    "optional": True,
                }
            }
        else:
            assert "HELPLINE_INTAKE_SERVICE_KEY" not in env, service
        signs_or_checks_replies = service in ("intake", "notify")
        assert ("HELPLINE_REPLY_TOKEN_SECRET" in env) is signs_or_checks_replies, service
        issuer = env.get("HELPLINE_IDENTITY_ISSUER", env.get("HELPLINE_ISSUER"))
        assert issuer == "https://id.example.com", service


def test_a_service_key_without_its_secret_key_is_refused(helm: Path) -> None:
    with pytest.raises(RenderFailed, match="secretKey"):
        helm_template(helm, "--set", "auth.serviceKeys.routing.variable=HELPLINE_X_KEY")


def _documented_values() -> set[str]:
    """The first column of the chart README's values table."""
    readme = (CHART / "README.md").read_text()
    table = readme.split("## Values", 1)[1]
    return set(re.findall(r"^\| `([^`]+)` \|", table, flags=re.MULTILINE))


def test_every_value_is_in_the_readme_table() -> None:
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    schema = json.loads((CHART / "values.schema.json").read_text())
    top_level = set(values) | set(schema["properties"])
    per_service = set().union(*(set(service) for service in values["services"].values()))
    per_service |= set(schema["definitions"]["service"]["properties"])
    expected = top_level | {f"services.NAME.{key}" for key in per_service}
    assert expected - _documented_values() == set()
    assert _documented_values() - expected == set()


# --- The workspace: no database, sessions in memory, calls every service ----------------------

CALLED_BY_THE_WORKSPACE = {
    "intake": "HELPLINE_INTAKE_URL",
    "routing": "HELPLINE_ROUTING_URL",
    "escalation": "HELPLINE_ESCALATION_URL",
    "notify": "HELPLINE_NOTIFY_URL",
    "identity": "HELPLINE_IDENTITY_URL",
}


def _container(manifests: list[Manifest], service: str) -> Manifest:
    container: Manifest = deployment_of(manifests, service)["spec"]["template"]["spec"][
        "containers"
    ][0]
    return container


@pytest.mark.parametrize("values", VALUE_SETS.values(), ids=VALUE_SETS.keys())
def test_the_workspace_keeps_no_database_and_runs_no_migration(
    helm: Path, values: tuple[str, ...]
) -> None:
    manifests = helm_template(helm, *values)
    assert "HELPLINE_DATABASE_URL" not in _env(_container(manifests, "workspace"))
    assert "HELPLINE_DATABASE_URL" in _env(_container(manifests, "intake"))
    jobs = {m["metadata"]["name"] for m in manifests if m["kind"] == "Job"}
    assert "helpline-workspace-migrate" not in jobs and "helpline-intake-migrate" in jobs
    # networkPolicy.databasePort: 5432 in every value set.
    assert not admits_egress(policy_of(manifests, "workspace"), {}, "databases", 5432)
    assert admits_egress(policy_of(manifests, "intake"), {}, "databases", 5432)


@pytest.mark.parametrize("values", VALUE_SETS.values(), ids=VALUE_SETS.keys())
def test_the_workspace_calls_every_service_at_its_in_cluster_url(
    helm: Path, values: tuple[str, ...]
) -> None:
    manifests = helm_template(helm, *values)
    env = _env(_container(manifests, "workspace"))
    ports = {
        m["metadata"]["name"].removeprefix("helpline-"): m["spec"]["ports"][0]["port"]
        for m in manifests
        if m["kind"] == "Service"
    }
    workspace = policy_of(manifests, "workspace")
    for service, variable in CALLED_BY_THE_WORKSPACE.items():
        port = ports[service]
        assert env[variable] == f"http://helpline-{service}:{port}", service
        assert admits_egress(workspace, pod_labels(service), RELEASE_NAMESPACE, port), service
        # Production limits who reaches each API; the workspace is always let through.
        assert admits_ingress(
            policy_of(manifests, service), pod_labels("workspace"), RELEASE_NAMESPACE, port
        ), service
    assert env["HELPLINE_IDENTITY_ISSUER"] == "http://helpline-identity:8084"
    assert env["HELPLINE_HTTP_PORT"] == "8085" and ports["workspace"] == 8085


def test_the_workspace_cookie_is_secure_unless_told_otherwise(helm: Path) -> None:
    secure = _env(_container(helm_template(helm), "workspace"))
    assert secure["HELPLINE_SESSION_COOKIE_SECURE"] == "true"
    # Behind the TLS-terminating Ingress its own URLs (the OIDC callback) must say https.
    assert secure["FORWARDED_ALLOW_IPS"] == "*"
    trial = _env(
        _container(
            helm_template(
                helm, "--set-string", "services.workspace.env.HELPLINE_SESSION_COOKIE_SECURE=false"
            ),
            "workspace",
        )
    )
    assert trial["HELPLINE_SESSION_COOKIE_SECURE"] == "false"


def test_one_browser_stays_on_one_workspace_pod(helm: Path) -> None:
    manifests = helm_template(helm, *PRODUCTION)
    affinity = {
        m["metadata"]["name"].removeprefix("helpline-"): m["spec"].get("sessionAffinity")
        for m in manifests
        if m["kind"] == "Service"
    }
    assert affinity.pop("workspace") == "ClientIP"
    assert set(affinity.values()) == {None}, "only the workspace keeps state in a pod"
    service = next(
        m
        for m in manifests
        if m["kind"] == "Service" and m["metadata"]["name"] == "helpline-workspace"
    )
    assert service["spec"]["sessionAffinityConfig"] == {"clientIP": {"timeoutSeconds": 10800}}
    # Behind ingress-nginx, which talks to the pods directly: its own cookie, kept on scaling.
    ingress = next(
        m
        for m in manifests
        if m["kind"] == "Ingress" and m["metadata"]["name"] == "helpline-workspace"
    )
    annotations = ingress["metadata"]["annotations"]
    assert annotations["nginx.ingress.kubernetes.io/affinity"] == "cookie"
    assert annotations["nginx.ingress.kubernetes.io/affinity-mode"] == "persistent"
    assert annotations["nginx.ingress.kubernetes.io/proxy-buffering"] == "off"
    # The global annotations still apply; another service's Ingress gets none of the workspace's.
    assert annotations["nginx.ingress.kubernetes.io/proxy-body-size"] == "26m"
    intake = next(
        m
        for m in manifests
        if m["kind"] == "Ingress" and m["metadata"]["name"] == "helpline-intake"
    )
    assert "nginx.ingress.kubernetes.io/affinity" not in intake["metadata"]["annotations"]
    assert ingress["spec"]["rules"][0]["host"] == "support.example.com"
    off = helm_template(helm, "--set", "services.workspace.sessionAffinity.enabled=false")
    assert all("sessionAffinity" not in m["spec"] for m in off if m["kind"] == "Service")


def test_the_workspace_reads_kafka_as_a_reader_and_scales_on_cpu_alone(helm: Path) -> None:
    """Each pod reads in a group of its own and commits nothing: there is no lag to scale on."""
    manifests = helm_template(helm, *PRODUCTION)
    scaled = {m["metadata"]["name"] for m in manifests if m["kind"] == "ScaledObject"}
    hpas = {m["metadata"]["name"] for m in manifests if m["kind"] == "HorizontalPodAutoscaler"}
    assert "helpline-workspace" not in scaled and hpas == {"helpline-workspace"}
    authentications = {
        m["metadata"]["name"] for m in manifests if m["kind"] == "TriggerAuthentication"
    }
    assert "helpline-workspace-kafka" not in authentications
    assert "helpline-intake-kafka" in authentications
    env = _env(_container(manifests, "workspace"))
    assert env["HELPLINE_KAFKA_SASL_USERNAME"] == service_user("workspace")
    values = yaml.safe_load((CHART / "values.yaml").read_text())["services"]["workspace"]
    access = READER_ACCESS["workspace"]
    assert values["reader"]["groupPrefix"] == access.group_prefix
    assert set(values["consumes"]) == set(access.topics) and values["produces"] == []


@pytest.mark.parametrize("values", VALUE_SETS.values(), ids=VALUE_SETS.keys())
def test_each_pod_gets_only_settings_its_program_reads(helm: Path, values: tuple[str, ...]) -> None:
    manifests = helm_template(helm, *values)
    for deployment in (m for m in manifests if m["kind"] == "Deployment"):
        service = deployment["metadata"]["name"].removeprefix("helpline-")
        own = variable_names(settings_class(service))
        given = {
            name
            for name in _env(deployment["spec"]["template"]["spec"]["containers"][0])
            if name.startswith("HELPLINE_")
        }
        assert given - own == set(), service
    configmap = next(m for m in manifests if m["kind"] == "ConfigMap")
    shared = {name for name in configmap["data"] if name.startswith("HELPLINE_")}
    assert shared - variable_names(settings_class("workspace")) == set()
