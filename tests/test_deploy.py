"""deploy/ checked without a cluster, Docker or the network: the Kubernetes manifests against the
Kubernetes JSON schemas (kubernetes-validate, strict) and KEDA's ScaledObject schema (vendored in
tests/fixtures/k8s), plus what the schemas cannot say: KEDA scales each delivery stream on its
group's lag, pods are non-root with requests, the grace period covers the SIGTERM drain; the
compose file, the alert rules (promtool when installed) and the Grafana dashboard."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

from adapters import load_adapters
from services.keys import Keys
from services.ops.metrics import Metrics
from services.pipeline import deliver
from services.runtime import Settings

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"
KUBERNETES_VERSION = "1.30.0"
BROKER_GRACEFUL_SECONDS = 30  # services.app.build_workers: RedisBroker(graceful_timeout=30)


def manifests() -> list[dict[str, Any]]:
    return [
        document
        for path in sorted((DEPLOY / "k8s").glob("*.yaml"))
        for document in yaml.safe_load_all(path.read_text("utf-8"))
        if document
    ]


def strict(schema: Any) -> Any:
    """A CRD schema that also refuses unknown fields (Kubernetes prunes them silently: a typo)."""
    if isinstance(schema, dict):
        out = {key: strict(value) for key, value in schema.items()}
        if out.get("type") == "object" and "properties" in out and "additionalProperties" not in out:
            out["additionalProperties"] = False
        return out
    if isinstance(schema, list):
        return [strict(value) for value in schema]
    return schema


def keda_validator() -> jsonschema.Draft7Validator:
    schema = json.loads((ROOT / "tests/fixtures/k8s/keda-scaledobject-v1alpha1.json").read_text("utf-8"))
    schema.pop("$comment", None)
    return jsonschema.Draft7Validator(strict(schema))


def validate(document: dict[str, Any]) -> None:
    if document["apiVersion"] == "keda.sh/v1alpha1":
        keda_validator().validate(document)
    else:
        kubernetes_validate.validate(document, KUBERNETES_VERSION, strict=True)


@pytest.mark.parametrize("document", manifests(), ids=lambda d: f"{d['kind']}/{d['metadata']['name']}")
def test_every_manifest_validates_against_its_schema(document: dict[str, Any]) -> None:
    validate(document)


def test_the_validation_refuses_a_typo() -> None:
    deployment = next(d for d in manifests() if d["kind"] == "Deployment")
    broken = json.loads(json.dumps(deployment))
    broken["spec"]["template"]["spec"]["securityContext"]["runAsNonroot"] = True
    with pytest.raises(kubernetes_validate.ValidationError):
        validate(broken)
    scaled = next(d for d in manifests() if d["kind"] == "ScaledObject")
    typo = json.loads(json.dumps(scaled))
    typo["spec"]["minReplicas"] = 1
    with pytest.raises(jsonschema.ValidationError):
        validate(typo)


def deployments() -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for d in manifests() if d["kind"] == "Deployment"}


def test_pods_are_non_root_with_requests_probes_and_a_grace_period_that_covers_the_drain() -> None:
    drain = Settings().drain_seconds
    for name, deployment in deployments().items():
        pod = deployment["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True, name
        assert pod["securityContext"]["runAsUser"] != 0, name
        for container in pod["containers"]:
            assert {"cpu", "memory"} <= set(container["resources"]["requests"]), name
            assert container["securityContext"]["allowPrivilegeEscalation"] is False, name
            assert container["readinessProbe"]["httpGet"]["path"] == "/readyz", name
            assert container["livenessProbe"]["httpGet"]["path"] == "/healthz", name
            env = {e["name"]: e.get("value") for e in container.get("env", [])}
            if container["args"][1] != "api":
                drain_here = float(env.get("HAMAFZA_DRAIN_SECONDS") or drain)
                assert pod["terminationGracePeriodSeconds"] >= BROKER_GRACEFUL_SECONDS + drain_here + 10, name
                assert env.get("HAMAFZA_METRICS_PORT") == "9464", name


def test_each_delivery_stream_scales_on_its_consumer_group_lag() -> None:
    registered = set(load_adapters())
    by_name = deployments()
    scaled = [d for d in manifests() if d["kind"] == "ScaledObject"]
    covered = []
    for scaled_object in scaled:
        target = by_name[scaled_object["spec"]["scaleTargetRef"]["name"]]
        args = target["spec"]["template"]["spec"]["containers"][0]["args"]
        assert args[:2] == ["run", "deliver"]
        platform = args[args.index("--platforms") + 1]
        assert platform in registered
        [trigger] = scaled_object["spec"]["triggers"]
        assert trigger["type"] == "redis-streams"
        metadata = trigger["metadata"]
        assert metadata["stream"] == Keys().deliveries(platform)
        assert metadata["consumerGroup"] == deliver.GROUP
        assert int(metadata["lagCount"]) > int(metadata["activationLagCount"]) >= 0
        covered.append(platform)
    assert len(covered) == len(set(covered)) >= 3
    # Every deliver Deployment is scaled by one ScaledObject, and sits under a PodDisruptionBudget.
    deliverers = {
        n
        for n, d in by_name.items()
        if d["spec"]["template"]["spec"]["containers"][0]["args"][1] == "deliver"
    }
    assert deliverers == {s["spec"]["scaleTargetRef"]["name"] for s in scaled}
    budgets = [d for d in manifests() if d["kind"] == "PodDisruptionBudget"]
    for name, deployment in by_name.items():
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        assert any(
            all(labels.get(k) == v for k, v in b["spec"]["selector"]["matchLabels"].items()) for b in budgets
        ), name


def test_compose_has_health_checks_the_database_and_the_api_port() -> None:
    compose = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text("utf-8"))
    services = compose["services"]
    assert {"redis", "postgres", "api", "workers", "deliver"} <= set(services)
    for name in ("redis", "postgres", "api", "workers", "deliver"):
        assert services[name]["healthcheck"]["test"], name
    assert any(str(port).endswith("8080:8080") for port in services["api"]["ports"])
    assert "readyz" in " ".join(services["workers"]["healthcheck"]["test"])
    assert services["workers"]["environment"]["HAMAFZA_DATABASE_URL"].startswith("postgresql")
    example = (DEPLOY / "hamafza.env.example").read_text("utf-8")
    assert "HAMAFZA_METRICS_PORT" in example
    ignored = (ROOT / ".dockerignore").read_text("utf-8").split()
    assert ".venv" in ignored and ".git" in ignored


def metric_names() -> set[str]:
    names = set()
    for collector in Metrics().registry._collector_to_names:
        for family in collector.describe():
            names.add(family.name)
            names.update(sample.name for sample in family.samples)
            names.update({f"{family.name}_total", f"{family.name}_bucket", f"{family.name}_count"})
    return names


def referenced(expression: str) -> set[str]:
    return set(re.findall(r"\bhamafza_[a-z_]+", expression))


def test_alert_rules_parse_and_name_only_series_that_exist() -> None:
    path = DEPLOY / "prometheus" / "alerts.yaml"
    rules = [rule for group in yaml.safe_load(path.read_text("utf-8"))["groups"] for rule in group["rules"]]
    alerts = {rule["alert"] for rule in rules}
    assert {"HamafzaStreamLagGrowing", "HamafzaDeadLettersRising", "HamafzaAccountPausedForAuth"} <= alerts
    known = metric_names()
    for rule in rules:
        assert set(rule) <= {"alert", "expr", "for", "labels", "annotations", "keep_firing_for"}
        assert rule["labels"]["severity"] in {"warning", "critical"}
        assert rule["annotations"]["summary"] and rule["annotations"]["description"]
        assert referenced(rule["expr"]) <= known, rule["alert"]
        assert rule["expr"].count("(") == rule["expr"].count(")"), rule["alert"]
    promtool = shutil.which("promtool")
    if promtool is not None:
        checked = subprocess.run(
            [promtool, "check", "rules", str(path)], check=False, capture_output=True, text=True
        )
        assert checked.returncode == 0, checked.stdout + checked.stderr


def test_the_grafana_dashboard_charts_every_named_series() -> None:
    dashboard = json.loads((DEPLOY / "grafana" / "hamafza-dashboard.json").read_text("utf-8"))
    expressions = " ".join(t["expr"] for panel in dashboard["panels"] for t in panel["targets"])
    for series in (
        "hamafza_deliveries_total",
        "hamafza_dead_letters_total",
        "hamafza_stream_lag",
        "hamafza_stream_pending",
        "hamafza_publish_latency_seconds_bucket",
        "hamafza_amplification_delay_seconds_bucket",
        "hamafza_paused_accounts",
        "hamafza_budget_waits_total",
        "hamafza_approvals_pending",
    ):
        assert series in referenced(expressions), series
    assert referenced(expressions) <= metric_names()
    assert len({panel["id"] for panel in dashboard["panels"]}) == len(dashboard["panels"])
