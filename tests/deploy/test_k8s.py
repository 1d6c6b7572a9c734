"""deploy/k8s: every kustomize overlay renders, validates against the Kubernetes schemas that
kubernetes-validate ships (offline), and keeps the invariants: secrets out of the manifests, probes
on the real health routes, API autoscaled, GPU workloads pinned to GPU nodes, settings keys real.
"""

from __future__ import annotations

import functools
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from csbot.api.routes import health

REPO = Path(__file__).resolve().parents[2]
K8S = REPO / "deploy" / "k8s"
OVERLAYS = ["base", "overlays/embedded-dev", "overlays/production"]
#: the API server version the manifests are written for (kubectl here is 1.32)
K8S_VERSION = "1.32.0"


@functools.cache
def _render(target: str) -> tuple[dict, ...]:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl (with its built-in kustomize) is not installed on this machine")
    out = subprocess.run(
        [kubectl, "kustomize", str(K8S / target)], capture_output=True, text=True, timeout=60, check=False
    )
    assert out.returncode == 0, f"kubectl kustomize {target} failed:\n{out.stderr}"
    return tuple(d for d in yaml.safe_load_all(out.stdout) if d)


def _of(docs: tuple[dict, ...], kind: str) -> dict[str, dict]:
    return {d["metadata"]["name"]: d for d in docs if d["kind"] == kind}


def _pod_specs(docs: tuple[dict, ...]) -> dict[str, dict]:
    return {
        d["metadata"]["name"]: d["spec"]["template"]["spec"]
        for d in docs
        if d["kind"] in ("Deployment", "Job")
    }


def _secret_names(docs: tuple[dict, ...]) -> set[str]:
    """Every Secret the pods read, by envFrom or secretKeyRef."""
    names = set()
    for spec in _pod_specs(docs).values():
        for c in spec["containers"]:
            names |= {e["secretRef"]["name"] for e in c.get("envFrom", []) if "secretRef" in e}
            names |= {
                e["valueFrom"]["secretKeyRef"]["name"]
                for e in c.get("env", [])
                if "secretKeyRef" in e.get("valueFrom", {})
            }
    return names


@pytest.mark.parametrize("target", OVERLAYS)
def test_overlay_renders_and_validates_against_kubernetes_schemas(target: str) -> None:
    kv = pytest.importorskip(
        "kubernetes_validate", reason="kubernetes-validate (dev extra) ships the schemas"
    )
    docs = _render(target)
    assert {d["kind"] for d in docs} >= {"Deployment", "Service", "ConfigMap", "Ingress"}
    for doc in docs:
        # strict: unknown fields (a misspelled key) are errors too
        kv.validate(doc, K8S_VERSION, strict=True)


def test_schema_validation_catches_a_broken_manifest() -> None:
    kv = pytest.importorskip(
        "kubernetes_validate", reason="kubernetes-validate (dev extra) ships the schemas"
    )
    api = dict(_of(_render("base"), "Deployment")["csbot-api"])
    broken = yaml.safe_load(yaml.safe_dump(api))
    broken["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]["httpGet"]["port"] = {
        "name": "http"
    }
    with pytest.raises(kv.ValidationError):
        kv.validate(broken, K8S_VERSION, strict=True)
    broken = yaml.safe_load(yaml.safe_dump(api))
    broken["spec"]["replica"] = 2
    with pytest.raises(kv.ValidationError):
        kv.validate(broken, K8S_VERSION, strict=True)


@pytest.mark.parametrize("target", OVERLAYS)
def test_no_secret_in_the_manifests(target: str, no_literal_secrets) -> None:  # type: ignore[no-untyped-def]
    docs = _render(target)
    assert not [d for d in docs if d["kind"] == "Secret"], "Secrets are created outside the manifests"
    for name, cm in _of(docs, "ConfigMap").items():
        assert not no_literal_secrets(cm["data"]), f"ConfigMap {name}"
    for name, spec in _pod_specs(docs).items():
        for c in spec["containers"]:
            literal = {e["name"]: e.get("value", "") for e in c.get("env", []) if "value" in e}
            assert not no_literal_secrets(literal), f"{name}/{c['name']}"
    assert _secret_names(docs) <= {"csbot-secrets"}
    example = K8S / "secrets.env.example"
    keys = {
        line.split("=", 1)[0]: line.split("=", 1)[1]
        for line in example.read_text(encoding="utf-8").splitlines()
        if line and not line.startswith("#")
    }
    assert all(v == "" for v in keys.values()), "secrets.env.example must stay a template"
    # every key the manifests take from the Secret by name is in the example
    for spec in _pod_specs(docs).values():
        for c in spec["containers"]:
            for e in c.get("env", []):
                ref = e.get("valueFrom", {}).get("secretKeyRef")
                if ref:
                    assert ref["key"] in keys, ref["key"]


@pytest.mark.parametrize("target", OVERLAYS)
def test_probes_use_the_real_health_routes(target: str) -> None:
    routes = {r.path for r in health.router.routes}
    docs = _render(target)
    for name, d in _of(docs, "Deployment").items():
        for c in d["spec"]["template"]["spec"]["containers"]:
            assert "livenessProbe" in c, f"{name}/{c['name']} has no liveness probe"
            if name == "csbot-api":
                # /readyz (models loaded, stores reachable) gates the start; afterwards a shared store's
                # outage must not take every replica out of the Service at once
                paths = {
                    p: c[p]["httpGet"]["path"] for p in ("startupProbe", "readinessProbe", "livenessProbe")
                }
                assert paths == {
                    "startupProbe": "/readyz",
                    "readinessProbe": "/healthz",
                    "livenessProbe": "/healthz",
                }
                assert set(paths.values()) <= routes
                assert c["command"][:2] == ["csbot", "serve"] and "0.0.0.0" in c["command"]


@pytest.mark.parametrize("target", ["base", "overlays/production"])
def test_api_is_autoscaled_on_cpu_and_protected_from_disruption(target: str) -> None:
    docs = _render(target)
    hpa = _of(docs, "HorizontalPodAutoscaler")["csbot-api"]
    assert hpa["apiVersion"] == "autoscaling/v2"
    assert hpa["spec"]["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": "csbot-api",
    }
    assert hpa["spec"]["minReplicas"] >= 2 and hpa["spec"]["maxReplicas"] > hpa["spec"]["minReplicas"]
    assert [m["resource"]["name"] for m in hpa["spec"]["metrics"]] == ["cpu"]
    api = _of(docs, "Deployment")["csbot-api"]
    # CPU utilisation is measured against the request: there must be one
    assert api["spec"]["template"]["spec"]["containers"][0]["resources"]["requests"]["cpu"]
    pdb = _of(docs, "PodDisruptionBudget")["csbot-api"]
    assert pdb["spec"]["selector"]["matchLabels"] == api["spec"]["selector"]["matchLabels"]
    assert pdb["spec"]["minAvailable"] < hpa["spec"]["minReplicas"], (
        "a PDB equal to the replicas blocks drains"
    )


@pytest.mark.parametrize("target", OVERLAYS)
def test_gpu_workloads_run_on_gpu_nodes_only(target: str) -> None:
    docs = _render(target)
    for name, spec in _pod_specs(docs).items():
        wants_gpu = any(
            "nvidia.com/gpu" in c.get("resources", {}).get("limits", {}) for c in spec["containers"]
        )
        on_gpu_nodes = bool(spec.get("nodeSelector")) and any(
            t.get("key") == "nvidia.com/gpu" for t in spec.get("tolerations", [])
        )
        assert wants_gpu == on_gpu_nodes, f"{name}: GPU limit and GPU node selector/toleration go together"
    if target != "overlays/embedded-dev":
        assert {"csbot-worker-gpu", "csbot-vllm"} <= {
            n for n, s in _pod_specs(docs).items() if s.get("nodeSelector")
        }


@pytest.mark.parametrize("target", OVERLAYS)
def test_settings_keys_are_real(target: str, check_keys, csbot_key_pattern) -> None:  # type: ignore[no-untyped-def]
    docs = _render(target)
    keys = {k for cm in _of(docs, "ConfigMap").values() for k in cm["data"] if k.startswith("CSBOT_")}
    for spec in _pod_specs(docs).values():
        for c in spec["containers"]:
            keys |= {e["name"] for e in c.get("env", []) if e["name"].startswith("CSBOT_")}
    check_keys(keys, f"deploy/k8s/{target}")
    example = (K8S / "secrets.env.example").read_text(encoding="utf-8")
    check_keys(
        {line.split("=", 1)[0] for line in example.splitlines() if line.startswith("CSBOT_")},
        "secrets.env.example",
    )
    # the keys named anywhere in docs/deploy.md are real too (the docs cannot drift from Settings)
    doc = REPO / "docs" / "deploy.md"
    check_keys(set(csbot_key_pattern.findall(doc.read_text(encoding="utf-8"))), "docs/deploy.md")


def test_embedded_dev_runs_one_pod_on_embedded_services_and_production_on_external_ones() -> None:
    dev = _render("overlays/embedded-dev")
    (config,) = _of(dev, "ConfigMap").values()
    # empty URI: `csbot serve` starts its private Redis and Milvus Lite inside the pod
    assert config["data"]["CSBOT_MILVUS_URI"] == "" and "CSBOT_REDIS_URL" not in config["data"]
    api = _of(dev, "Deployment")["csbot-api"]
    assert api["spec"]["replicas"] == 1 and api["spec"]["strategy"]["type"] == "Recreate"
    assert not _of(dev, "HorizontalPodAutoscaler"), "embedded services cannot be shared by several replicas"
    assert set(_of(dev, "Deployment")) == {"csbot-api"}

    prod = _render("overlays/production")
    (config,) = _of(prod, "ConfigMap").values()
    assert config["data"]["CSBOT_MILVUS_URI"].startswith("http://")
    assert config["data"]["CSBOT_LLM__URL"] == "http://csbot-vllm:8001/v1"
    assert "csbot-vllm" in _of(prod, "Service")
    assert {d["metadata"].get("namespace") for d in prod} == {"csbot"}


def test_vllm_flags_agree_with_deploy_vllm_config() -> None:
    config = yaml.safe_load((REPO / "deploy" / "vllm" / "vllm.yaml").read_text(encoding="utf-8"))
    vllm = _of(_render("base"), "Deployment")["csbot-vllm"]["spec"]["template"]["spec"]["containers"][0]
    flags = {}
    for arg in vllm["args"][1:]:
        key, _, value = arg.removeprefix("--").partition("=")
        flags[key] = value or True
    expected = {k: (v if v is True else str(v)) for k, v in config.items() if k != "model"}
    assert flags == expected
    env = {e["name"]: e for e in vllm["env"]}
    assert env["VLLM_ALLOW_RUNTIME_LORA_UPDATING"]["value"] == "True"
    assert env["VLLM_API_KEY"]["valueFrom"]["secretKeyRef"]["key"] == "CSBOT_LLM__API_KEY"
    assert vllm["args"][0] == "$(CSBOT_LLM__MODEL)"


def test_ingress_streams_without_buffering() -> None:
    ingress = _of(_render("overlays/production"), "Ingress")["csbot"]
    notes = ingress["metadata"]["annotations"]
    assert notes["nginx.ingress.kubernetes.io/proxy-buffering"] == "off"
    assert int(notes["nginx.ingress.kubernetes.io/proxy-read-timeout"]) >= 300
    assert notes["nginx.ingress.kubernetes.io/affinity"] == "cookie"
    assert ingress["spec"]["tls"][0]["secretName"]
