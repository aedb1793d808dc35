"""The NetworkPolicies of deploy/k8s let in and out what the services need, and no more.

A small evaluator of the NetworkPolicy rules (networking.k8s.io/v1 semantics: a pod
selected by no policy of a direction is open in it; otherwise one rule of one policy
must allow the connection) asks the base manifests, and the overlays when kubectl is
installed, who may connect to whom.
"""

from __future__ import annotations

import ipaddress
import os
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

K8S = Path(__file__).resolve().parents[1] / "k8s"
NAMESPACE = "rapport"
GRPC_PORTS = {
    "identity": 50051,
    "profile": 50052,
    "consent": 50053,
    "decisioning": 50054,
    "delivery": 50055,
}
PUBLIC_HTTP_PORTS = {"profile": 8052, "delivery": 8055}


@dataclass(frozen=True)
class Pod:
    labels: dict[str, str]
    namespace: str = NAMESPACE
    namespace_labels: dict[str, str] = field(default_factory=dict)

    def all_namespace_labels(self) -> dict[str, str]:
        return {"kubernetes.io/metadata.name": self.namespace, **self.namespace_labels}


@dataclass(frozen=True)
class Address:
    """An endpoint outside the cluster's pods (a provider, a relay, the internet)."""

    ip: str


def service_pod(service: str) -> Pod:
    return Pod({"app.kubernetes.io/name": service, "app.kubernetes.io/part-of": "rapport"})


def selects(selector: dict[str, Any] | None, labels: dict[str, str]) -> bool:
    selector = selector or {}
    assert not selector.get("matchExpressions"), "the evaluator reads matchLabels only"
    return all(labels.get(k) == v for k, v in (selector.get("matchLabels") or {}).items())


def peer_matches(peer: dict[str, Any], other: Pod | Address) -> bool:
    if "ipBlock" in peer:
        if not isinstance(other, Address):
            return False  # what an ipBlock means for pod addresses is up to the plugin
        ip = ipaddress.ip_address(other.ip)
        block = peer["ipBlock"]
        if ip.version != ipaddress.ip_network(block["cidr"]).version:
            return False
        return ip in ipaddress.ip_network(block["cidr"]) and not any(
            ip.version == ipaddress.ip_network(e).version and ip in ipaddress.ip_network(e)
            for e in block.get("except") or []
        )
    if not isinstance(other, Pod):
        return False
    if "namespaceSelector" in peer:
        if not selects(peer["namespaceSelector"], other.all_namespace_labels()):
            return False
    elif other.namespace != NAMESPACE:
        return False
    return selects(peer.get("podSelector"), other.labels)


def port_matches(rule: dict[str, Any], port: int) -> bool:
    ports = rule.get("ports")
    return not ports or any(
        p.get("protocol", "TCP") == "TCP" and p.get("port") in (None, port) for p in ports
    )


def allowed(
    policies: list[dict], pod: Pod, other: Pod | Address, port: int, direction: str
) -> bool:
    """Whether `pod` (in the rapport namespace) may take `other`'s connection on `port`
    (direction Ingress) or open one to `other` on `port` (Egress), as far as the
    policies of the rapport namespace decide (TCP)."""
    peers_field = "from" if direction == "Ingress" else "to"
    selecting = [
        p
        for p in policies
        if selects(p["spec"]["podSelector"], pod.labels)
        and direction in p["spec"].get("policyTypes", ["Ingress"])
    ]
    if not selecting:
        return True
    return any(
        port_matches(rule, port)
        and (peers_field not in rule or any(peer_matches(q, other) for q in rule[peers_field]))
        for policy in selecting
        for rule in policy["spec"].get(direction.lower()) or []
    )


def can_connect(
    policies: list[dict], source: Pod | Address, target: Pod | Address, port: int
) -> bool:
    """Both ends' policies: the source's egress (when it is a rapport pod) and the
    target's ingress (when it is one)."""
    out = not isinstance(source, Pod) or source.namespace != NAMESPACE
    out = out or allowed(policies, source, target, port, "Egress")
    into = not isinstance(target, Pod) or target.namespace != NAMESPACE
    into = into or allowed(policies, target, source, port, "Ingress")
    return out and into


# --------------------------------------------------------------- the manifests


def base_resources(folder: Path = K8S / "base") -> list[dict]:
    """The objects a kustomization's resources list (base has no patches)."""
    kustomization = yaml.safe_load((folder / "kustomization.yaml").read_text())
    assert not kustomization.get("patches"), "base_resources does not apply patches"
    objects: list[dict] = []
    for entry in kustomization.get("resources") or []:
        path = folder / entry
        if path.is_dir():
            objects += base_resources(path)
        else:
            objects += [d for d in yaml.safe_load_all(path.read_text()) if d]
    return objects


def network_policies(objects: list[dict]) -> list[dict]:
    return [o for o in objects if o["kind"] == "NetworkPolicy"]


def named(objects: list[dict], kind: str, name: str) -> dict:
    [found] = [o for o in objects if o["kind"] == kind and o["metadata"]["name"] == name]
    return found


def kustomize_build(overlay: Path) -> list[dict]:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        message = "kubectl is not installed: install it to build the overlays (kubectl kustomize)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)  # CI never counts a skipped check as passed
        pytest.skip(message)
    built = subprocess.run(
        [kubectl, "kustomize", str(overlay)],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return [d for d in yaml.safe_load_all(built.stdout) if d]


CRM = Pod({"app": "crm-import"}, namespace="crm")
INGRESS_CONTROLLER = Pod({"app": "ingress-nginx"}, namespace="ingress-nginx")


def client(service: str, namespace_labels: dict[str, str] | None = None) -> Pod:
    return Pod(
        {"app": "crm-import", f"rapport.dev/{service}-client": "true"},
        namespace="crm",
        namespace_labels=namespace_labels or {},
    )


# ----------------------------------------------------------------------- tests


@pytest.mark.parametrize("service", sorted(GRPC_PORTS))
def test_a_labelled_client_reaches_the_grpc_port_and_nothing_else(service: str) -> None:
    policies = network_policies(base_resources())
    port = GRPC_PORTS[service]

    assert can_connect(policies, client(service), service_pod(service), port)
    assert not can_connect(policies, CRM, service_pod(service), port), "default-deny is kept"
    others = [s for s in GRPC_PORTS if s != service]
    for other in others:
        assert not can_connect(policies, client(service), service_pod(other), GRPC_PORTS[other])


def test_the_former_decisioning_client_label_still_works() -> None:
    policies = network_policies(base_resources())
    legacy = Pod({"rapport.io/decisioning-client": "true"}, namespace="web")

    assert can_connect(policies, legacy, service_pod("decisioning"), 50054)


def test_peers_still_reach_one_another() -> None:
    policies = network_policies(base_resources())
    calls = [
        ("profile", "identity"),
        ("consent", "identity"),
        ("decisioning", "profile"),
        ("decisioning", "consent"),
        ("decisioning", "delivery"),
        ("delivery", "profile"),
        ("delivery", "consent"),
        # Data subject requests: consent exports and erases in every other service.
        ("consent", "profile"),
        ("consent", "decisioning"),
        ("consent", "delivery"),
    ]
    for caller, callee in calls:
        source, target = service_pod(caller), service_pod(callee)
        assert can_connect(policies, source, target, GRPC_PORTS[callee]), (caller, callee)
    assert not can_connect(policies, service_pod("identity"), service_pod("profile"), 50052)
    # Only consent was given the new ways in: profile and identity still never call it
    # nor delivery.
    for caller in ("profile", "identity"):
        for callee in ("consent", "delivery"):
            source, target = service_pod(caller), service_pod(callee)
            assert not can_connect(policies, source, target, GRPC_PORTS[callee]), (caller, callee)


def peer_addresses(objects: list[dict]) -> list[tuple[str, str, int]]:
    """(caller, callee, port) for every RAPPORT_<CALLER>_<CALLEE>_ADDRESS in the
    services' ConfigMaps."""
    found = []
    for caller in GRPC_PORTS:
        data = named(objects, "ConfigMap", f"rapport-{caller}-config")["data"]
        for callee in GRPC_PORTS:
            address = data.get(f"RAPPORT_{caller.upper()}_{callee.upper()}_ADDRESS")
            if address:
                host, port = address.rsplit(":", 1)
                assert host == callee, (caller, address)
                found.append((caller, callee, int(port)))
    return found


def test_every_peer_address_a_service_is_given_is_open_to_it() -> None:
    objects = base_resources()
    policies = network_policies(objects)
    addresses = peer_addresses(objects)

    assert {(c, d) for c, d, _ in addresses if c == "consent"} == {
        ("consent", "identity"),
        ("consent", "profile"),
        ("consent", "decisioning"),
        ("consent", "delivery"),
    }
    for caller, callee, port in addresses:
        assert port == GRPC_PORTS[callee], (caller, callee)
        assert can_connect(policies, service_pod(caller), service_pod(callee), port), (
            caller,
            callee,
        )


@pytest.mark.parametrize("service", sorted(PUBLIC_HTTP_PORTS))
def test_the_ingress_controller_reaches_the_public_http_endpoints(service: str) -> None:
    objects = base_resources()
    policies = network_policies(objects)
    port = PUBLIC_HTTP_PORTS[service]

    assert can_connect(policies, INGRESS_CONTROLLER, service_pod(service), port)
    assert can_connect(policies, Address("35.191.0.1"), service_pod(service), port)
    # ... and the Deployment and Service expose it, on the port the service listens on.
    deployment = named(objects, "Deployment", service)
    [container] = deployment["spec"]["template"]["spec"]["containers"]
    assert {"name": "http", "containerPort": port, "protocol": "TCP"} in container["ports"]
    service_ports = named(objects, "Service", service)["spec"]["ports"]
    assert {"name": "http", "port": port, "targetPort": "http"}.items() <= next(
        p for p in service_ports if p["name"] == "http"
    ).items()
    config = named(objects, "ConfigMap", f"rapport-{service}-config")
    assert config["data"][f"RAPPORT_{service.upper()}_HTTP_PORT"] == str(port)
    assert not can_connect(policies, INGRESS_CONTROLLER, service_pod(service), GRPC_PORTS[service])


def test_delivery_reaches_its_providers_and_not_the_cluster_on_https() -> None:
    policies = network_policies(base_resources())
    delivery = service_pod("delivery")
    dns = Pod({"k8s-app": "kube-dns"}, namespace="kube-system")

    assert allowed(policies, delivery, dns, 53, "Egress")
    for provider in ("34.226.0.1", "142.250.0.1", "2607:f8b0:4004::1"):  # Twilio, FCM
        assert can_connect(policies, delivery, Address(provider), 443), provider
    for relay_port in (25, 465, 587):
        assert can_connect(policies, delivery, Address("10.0.0.25"), relay_port)
    # Private, shared and link-local addresses (the Kubernetes API, cloud metadata).
    for inside in ("10.96.0.1", "172.20.0.1", "192.168.1.1", "100.64.0.1", "169.254.169.254"):
        assert not can_connect(policies, delivery, Address(inside), 443), inside
    assert not can_connect(policies, delivery, Address("fd00::1"), 443)
    assert not can_connect(policies, delivery, Address("34.226.0.1"), 8443)
    # Only delivery: another service gets no HTTPS egress.
    assert not can_connect(policies, service_pod("profile"), Address("34.226.0.1"), 443)


def test_built_overlays(tmp_path: Path) -> None:
    """What kubectl applies: the production overlay keeps the client and public rules
    and requires the page-token secret; components/client-namespaces
    narrows clients to labelled namespaces."""
    production = kustomize_build(K8S / "overlays" / "production")
    policies = network_policies(production)
    for service, port in GRPC_PORTS.items():
        assert can_connect(policies, client(service), service_pod(service), port)
    for service, port in PUBLIC_HTTP_PORTS.items():
        assert can_connect(policies, INGRESS_CONTROLLER, service_pod(service), port)
    # Page tokens made by one replica are read by the other: one key, required.
    for service in GRPC_PORTS:
        deployment = named(production, "Deployment", service)
        [server] = deployment["spec"]["template"]["spec"]["containers"]
        [key] = [e for e in server["env"] if e["name"].endswith("_PAGE_TOKEN_KEY")]
        assert key["valueFrom"]["secretKeyRef"] == {
            "name": "rapport-page-tokens",
            "key": "key",
            "optional": False,
        }, service

    narrowed = tmp_path / "narrowed"
    narrowed.mkdir()
    (narrowed / "kustomization.yaml").write_text(
        yaml.safe_dump(
            {
                "apiVersion": "kustomize.config.k8s.io/v1beta1",
                "kind": "Kustomization",
                "resources": [str(Path("..") / "k8s" / "overlays" / "production")],
                "components": [str(Path("..") / "k8s" / "components" / "client-namespaces")],
            }
        )
    )
    shutil.copytree(K8S, tmp_path / "k8s")
    policies = network_policies(kustomize_build(narrowed))
    legacy = Pod({"rapport.io/decisioning-client": "true"}, namespace="web")
    for service, port in GRPC_PORTS.items():
        assert not can_connect(policies, client(service), service_pod(service), port)
        in_labelled_namespace = client(service, {"rapport.dev/clients": "true"})
        assert can_connect(policies, in_labelled_namespace, service_pod(service), port)
    assert not can_connect(policies, legacy, service_pod("decisioning"), 50054)
