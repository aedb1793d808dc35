"""deploy/check_manifests.py accepts the real tree and refuses broken copies of it."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import yaml

DEPLOY = Path(__file__).resolve().parents[1]
CHECKER = DEPLOY / "check_manifests.py"
K8S = DEPLOY / "k8s"


def run_checker(folder: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(CHECKER), str(folder)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def copy_tree(tmp_path: Path) -> Path:
    target = tmp_path / "k8s"
    shutil.copytree(K8S, target)
    return target


def test_real_tree_passes() -> None:
    result = run_checker(K8S)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip().endswith(": OK")


def test_removed_readiness_probe_fails(tmp_path: Path) -> None:
    tree = copy_tree(tmp_path)
    path = tree / "base" / "identity" / "deployment.yaml"
    deployment = yaml.safe_load(path.read_text())
    del deployment["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]
    path.write_text(yaml.safe_dump(deployment))

    result = run_checker(tree)

    assert result.returncode == 1
    assert "Deployment/identity" in result.stdout
    assert "readinessProbe must be a gRPC probe" in result.stdout


def test_missing_kustomization_path_fails(tmp_path: Path) -> None:
    tree = copy_tree(tmp_path)
    (tree / "components" / "tracing" / "delivery.yaml").unlink()

    result = run_checker(tree)

    assert result.returncode == 1
    assert "patches: delivery.yaml does not exist" in result.stdout


def test_schema_violation_fails(tmp_path: Path) -> None:
    tree = copy_tree(tmp_path)
    path = tree / "base" / "consent" / "service.yaml"
    service = yaml.safe_load(path.read_text())
    service["spec"]["ports"][0]["port"] = "grpc"  # must be an integer
    path.write_text(yaml.safe_dump(service))

    result = run_checker(tree)

    assert result.returncode == 1
    assert "Service/consent invalid for Kubernetes" in result.stdout


def test_drain_longer_than_the_termination_grace_fails(tmp_path: Path) -> None:
    tree = copy_tree(tmp_path)
    path = tree / "base" / "profile" / "configmap.yaml"
    config = yaml.safe_load(path.read_text())
    config["data"]["RAPPORT_PROFILE_DRAIN_SECONDS"] = "30"
    path.write_text(yaml.safe_dump(config))

    result = run_checker(tree)

    assert result.returncode == 1
    assert "Deployment/profile: terminationGracePeriodSeconds" in result.stdout
    assert "drain + grace (30 s + 5 s)" in result.stdout


def test_every_service_reads_the_one_workspaces_file(tmp_path: Path) -> None:
    for service in ("identity", "profile", "consent", "decisioning", "delivery"):
        deployment = yaml.safe_load((K8S / "base" / service / "deployment.yaml").read_text())
        pod = deployment["spec"]["template"]["spec"]
        [container] = pod["containers"]
        env = {e["name"]: e for e in container["env"]}
        mounted = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
        volumes = {v["name"]: v for v in pod["volumes"]}
        assert env["RAPPORT_WORKSPACES_FILE"]["value"].startswith(mounted["workspaces"])
        assert volumes["workspaces"]["configMap"]["name"] == "rapport-workspaces", service


def test_the_local_overlay_serves_the_catalogue_make_run_serves() -> None:
    # Two copies (kustomize cannot reach outside deploy/): they drifted once, and the
    # cluster's demo then lacked the seeds' 30-days-before renewal trigger.
    local = (K8S / "overlays" / "local" / "catalogue.yaml").read_text()
    suite = (DEPLOY.parent / "localsuite" / "rapport" / "localsuite" / "catalogue.yaml").read_text()
    assert local == suite
