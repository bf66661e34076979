"""deploy/: the manifests are valid, and every place runs the commands the docs give."""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.support import BASE_DIR

DEPLOY = BASE_DIR / "deploy"
K8S = DEPLOY / "k8s"
KUBERNETES_VERSION = "1.34.0"
YAMLLINT_CONFIG = json.dumps(
    {
        "extends": "default",
        "rules": {
            "line-length": {"max": 120},
            "document-start": "disable",
            "truthy": {"check-keys": False},
        },
    }
)


def documented_commands() -> dict[str, list[str]]:
    """The `name: command` lines of the block in deploy/README.md's 'The processes' section."""
    text = (DEPLOY / "README.md").read_text()
    block = text.split("## The processes", 1)[1].split("```", 2)[1]
    commands = {}
    for line in block.strip().splitlines():
        name, command = line.split(":", 1)
        commands[name.strip()] = shlex.split(command)
    return commands


def k8s_documents() -> list[tuple[Path, dict]]:
    documents = []
    for path in sorted(K8S.glob("*.yaml")):
        if path.name != "kustomization.yaml":
            documents.extend((path, doc) for doc in yaml.safe_load_all(path.read_text()) if doc)
    return documents


def containers(kind: str, name: str) -> list[dict]:
    for _, doc in k8s_documents():
        if doc["kind"] == kind and doc["metadata"]["name"] == name:
            return doc["spec"]["template"]["spec"]["containers"]
    raise AssertionError(f"no {kind} {name} in deploy/k8s")


def test_the_yaml_is_clean():
    files = [str(p) for p in [*DEPLOY.rglob("*.yaml"), *DEPLOY.rglob("*.yml")]]
    result = subprocess.run(
        [sys.executable, "-m", "yamllint", "-f", "parsable", "-d", YAMLLINT_CONFIG, *files],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_kubernetes_manifests_validate_strictly():
    resources = [str(p) for p in sorted(K8S.glob("*.yaml")) if p.name != "kustomization.yaml"]
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "kubernetes_validate",
            "--strict",
            "-k",
            KUBERNETES_VERSION,
            *resources,
        ],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "ERROR" not in result.stdout


def test_kustomize_lists_every_manifest():
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    on_disk = {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml"}
    assert set(kustomization["resources"]) == on_disk


def test_the_expected_workloads_are_there():
    kinds = {(doc["kind"], doc["metadata"]["name"]) for _, doc in k8s_documents()}
    for expected in [
        ("Deployment", "syncportal-web"),
        ("Deployment", "syncportal-worker"),
        ("Deployment", "syncportal-beat"),
        ("Service", "syncportal-web"),
        ("Ingress", "syncportal"),
        ("Secret", "syncportal-secrets"),
        ("HorizontalPodAutoscaler", "syncportal-worker"),
        ("Job", "syncportal-migrate"),
        ("PodDisruptionBudget", "syncportal-web"),
        ("PodDisruptionBudget", "syncportal-worker"),
    ]:
        assert expected in kinds


def test_pods_run_unprivileged_with_resources():
    for _, doc in k8s_documents():
        if doc["kind"] not in {"Deployment", "Job"}:
            continue
        pod = doc["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        for container in pod["containers"]:
            security = container["securityContext"]
            assert security["allowPrivilegeEscalation"] is False
            assert security["readOnlyRootFilesystem"] is True
            assert container["resources"]["requests"] and container["resources"]["limits"]


def test_web_has_probes_on_the_health_endpoints():
    [web] = containers("Deployment", "syncportal-web")
    assert web["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert web["readinessProbe"]["httpGet"]["path"] == "/readyz"


@pytest.mark.parametrize(
    ("process", "kind", "name"),
    [
        ("web", "Deployment", "syncportal-web"),
        ("worker", "Deployment", "syncportal-worker"),
        ("beat", "Deployment", "syncportal-beat"),
        ("migrate", "Job", "syncportal-migrate"),
    ],
)
def test_kubernetes_runs_the_documented_commands(process, kind, name):
    [container] = containers(kind, name)
    assert container["command"] == documented_commands()[process]


@pytest.mark.parametrize("process", ["web", "worker", "beat", "migrate"])
def test_compose_runs_the_documented_commands(process):
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    assert compose["services"][process]["command"] == documented_commands()[process]


def test_the_dockerfile_runs_the_documented_web_command():
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    cmd = re.search(r"^CMD (\[.*?\])\s*$", dockerfile.replace("\\\n", ""), re.M | re.S)
    assert json.loads(" ".join(cmd.group(1).split())) == documented_commands()["web"]


def test_the_compose_file_has_the_platform_services():
    services = yaml.safe_load((DEPLOY / "compose.yaml").read_text())["services"]
    assert {"web", "worker", "beat", "postgres", "redis", "minio", "minio-setup"} <= set(services)
    assert "mc ilm import local/transfers" in services["minio-setup"]["command"][0]
    rule = json.loads((DEPLOY / "minio" / "lifecycle.json").read_text())["Rules"][0]
    assert rule["AbortIncompleteMultipartUpload"] == {"DaysAfterInitiation": 1}


def test_compose_runs_two_workers_on_the_transfer_queue():
    """One job's shards spread over the fleet: compose starts two workers with distinct
    hostnames (the job page names them), both on the default queue, where jobs and shards go."""
    services = yaml.safe_load((DEPLOY / "compose.yaml").read_text())["services"]
    workers = {
        name: service
        for name, service in services.items()
        if service.get("command") == documented_commands()["worker"]
    }
    assert set(workers) == {"worker", "worker-2"}
    assert len({service["hostname"] for service in workers.values()}) == 2
    for service in workers.values():
        assert "-Q" not in service["command"]  # the default queue: TRANSFER_QUEUE's default
        assert service["stop_grace_period"] == "5m"
        assert service["depends_on"]["migrate"] == {"condition": "service_completed_successfully"}


def test_the_worker_autoscaler_counts_the_transfer_queue():
    """Shard tasks go on the transfer queue like jobs: the HPA's metric is that queue's depth."""
    [hpa] = [doc for _, doc in k8s_documents() if doc["kind"] == "HorizontalPodAutoscaler"]
    [metric] = hpa["spec"]["metrics"]
    assert metric["external"]["metric"]["name"] == "syncportal_queue_depth"
    queue = metric["external"]["metric"]["selector"]["matchLabels"]["queue"]
    configured = {}
    for _, doc in k8s_documents():
        if doc["kind"] == "ConfigMap":
            configured.update(doc.get("data") or {})
    assert queue == configured.get("TRANSFER_QUEUE", "celery")


def test_the_documented_commands_start_the_real_entry_points():
    """The image's commands name modules that exist and parse their arguments."""
    commands = documented_commands()
    assert commands["web"][:3] == ["python", "-m", "syncportal.server"]
    starts = {"web": commands["web"][2:], "worker": commands["worker"], "beat": commands["beat"]}
    for process, command in starts.items():
        result = subprocess.run(
            [sys.executable, "-m", *command, "--help"],
            capture_output=True,
            text=True,
            cwd=BASE_DIR,
            timeout=120,
            env={
                "PATH": "/usr/bin:/bin",
                "DEBUG": "1",
                "DJANGO_SETTINGS_MODULE": "syncportal.settings",
            },
        )
        assert result.returncode == 0, f"{process}: {result.stderr}"
