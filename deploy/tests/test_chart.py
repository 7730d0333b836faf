"""The Helm chart lints, renders objects valid against their schemas and refuses bad values.

Kubernetes objects are checked with kubernetes-validate's bundled schemas, custom resources
(Strimzi, KEDA, Prometheus Operator) with the CRDs vendored in ``crds/``.
"""

import subprocess
from collections.abc import Iterator, Mapping
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from kubernetes_validate import utils as kubernetes_schemas

from helpline_shared import topics

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
        [str(helm), "template", "helpline", str(CHART), "--kube-version", KUBERNETES_VERSION,
         *arguments],
        capture_output=True, text=True, timeout=120, check=False,
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
    if ("properties" in closed and "additionalProperties" not in closed
            and not closed.get("x-kubernetes-preserve-unknown-fields")):
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
VALUE_SETS = {"default": (), "production": PRODUCTION,
              "production-without-keda": ("-f", str(CHART / "values-production.yaml"))}


@pytest.mark.parametrize("values", [(), PRODUCTION[:2]], ids=["default", "production"])
def test_helm_lint_passes(helm: Path, values: tuple[str, ...]) -> None:
    result = subprocess.run(
        [str(helm), "lint", "--strict", str(CHART), "--kube-version", KUBERNETES_VERSION,
         *values],
        capture_output=True, text=True, timeout=120, check=False,
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
    assert kinds.count("HorizontalPodAutoscaler") == 5 and "ScaledObject" not in kinds
    deployments = [m for m in without_keda if m["kind"] == "Deployment"]
    assert all("replicas" not in deployment["spec"] for deployment in deployments)


def test_scaled_objects_scale_consumers_on_their_group_lag(helm: Path) -> None:
    scaled = {m["metadata"]["name"]: m for m in helm_template(helm, *PRODUCTION)
              if m["kind"] == "ScaledObject"}
    triggers = scaled["helpline-notify"]["spec"]["triggers"]
    lag = [t["metadata"] for t in triggers if t["type"] == "kafka"]
    assert {t["topic"] for t in lag} == {topics.TICKETS, topics.ROUTING, topics.SLA}
    assert {t["consumerGroup"] for t in lag} == {"helpline-notify"}


def test_schema_check_catches_an_unknown_field(helm: Path) -> None:
    topic = next(m for m in helm_template(helm) if m["kind"] == "KafkaTopic")
    topic["spec"]["partitionz"] = 3
    assert any("partitionz" in error for error in schema_errors(topic))


def test_kafka_topics_match_the_shared_topic_list(helm: Path) -> None:
    rendered = [m["spec"]["topicName"] for m in helm_template(helm) if m["kind"] == "KafkaTopic"]
    assert sorted(rendered) == sorted(topics.all_topics())


def test_dead_letter_topics_keep_records_longer(helm: Path) -> None:
    retention = {m["spec"]["topicName"]: m["spec"]["config"]["retention.ms"]
                 for m in helm_template(helm) if m["kind"] == "KafkaTopic"}
    dead_letter = topics.dead_letter_topic(topics.TICKETS)
    assert retention[dead_letter] > retention[topics.TICKETS]


def test_each_service_user_may_touch_only_its_own_topics(helm: Path) -> None:
    users = {m["metadata"]["name"]: m for m in helm_template(helm, *PRODUCTION)
             if m["kind"] == "KafkaUser"}
    routing_acls = users["helpline-routing"]["spec"]["authorization"]["acls"]
    written = {acl["resource"]["name"] for acl in routing_acls
               if "Write" in acl["operations"]}
    assert written == {topics.ROUTING, topics.dead_letter_topic(topics.TICKETS),
                       topics.dead_letter_topic(topics.SLA)}


def test_deployments_are_hardened_and_probed(helm: Path) -> None:
    deployments = [m for m in helm_template(helm) if m["kind"] == "Deployment"]
    assert len(deployments) == 5
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
    intake = next(m for m in helm_template(helm, *PRODUCTION)
                  if m["kind"] == "Deployment" and m["metadata"]["name"] == "helpline-intake")
    pod = intake["spec"]["template"]["spec"]
    claims = [v["persistentVolumeClaim"]["claimName"] for v in pod["volumes"]
              if "persistentVolumeClaim" in v]
    assert claims == ["helpline-attachments"]
    assert {"name": "HELPLINE_ATTACHMENTS_DIR", "value": "/var/lib/helpline/attachments"} \
        in pod["containers"][0]["env"]


def test_no_secret_value_is_rendered_by_default(helm: Path) -> None:
    manifests = helm_template(helm)
    assert not [m for m in manifests if m["kind"] == "Secret"]
    configmap = next(m for m in manifests if m["kind"] == "ConfigMap")
    assert not any("SECRET" in key or "DATABASE_URL" in key for key in configmap["data"])


def test_migrations_run_before_upgrades_in_each_service_image(helm: Path) -> None:
    jobs = [m for m in helm_template(helm) if m["kind"] == "Job"]
    assert {job["metadata"]["annotations"]["helm.sh/hook"] for job in jobs} == {
        "pre-install,pre-upgrade"}
    images = sorted(job["spec"]["template"]["spec"]["containers"][0]["image"] for job in jobs)
    assert [image.split("/")[-1].split(":")[0] for image in images] == [
        "helpline-escalation", "helpline-identity", "helpline-intake", "helpline-notify",
        "helpline-routing"]
    assert all(job["spec"]["template"]["spec"]["containers"][0]["args"] == ["migrate"]
               for job in jobs)


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
