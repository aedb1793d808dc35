#!/usr/bin/env python3
"""Static checks of the Kubernetes manifests under a folder (no cluster, no kustomize).

    python deploy/check_manifests.py deploy/k8s

1. Every kustomization.yaml (Kustomization or Component) parses, and every local
   path it lists (resources, components, patches, generator files) exists; a
   folder listed as a resource or component must hold a kustomization file.
2. Every YAML file listed as a resource is made of Kubernetes objects that validate
   against the Kubernetes OpenAPI schema of KUBERNETES_VERSION (strict mode:
   unknown fields are errors). Patch files are partial objects and are not
   schema-validated; a patch naming its Deployment must name one that exists.
3. Every YAML file under the folder is used by some kustomization.
4. Rapport's rules for every Deployment: gRPC readiness and liveness probes on a
   declared container port, cpu/memory requests and limits, the restricted
   securityContext (runAsNonRoot, non-root runAsUser, allowPrivilegeEscalation
   false, readOnlyRootFilesystem true, capabilities drop ALL, seccompProfile
   RuntimeDefault), a writable /tmp, terminationGracePeriodSeconds longer than the
   drain period plus the stop grace, and RAPPORT_<SERVICE>_ variables only for its
   own service (besides the suite-wide ones, such as RAPPORT_WORKSPACES_FILE).

Prints one line per problem and exits 1, or prints a summary and exits 0.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import kubernetes_validate
import yaml

KUBERNETES_VERSION = "1.31"
KUSTOMIZATION_NAMES = ("kustomization.yaml", "kustomization.yml", "Kustomization")
KUSTOMIZE_KINDS = ("Kustomization", "Component")
# The runtime's defaults (rapport.config.ServiceSettings): NOT_SERVING for drain_seconds,
# then in-flight calls get grace_seconds.
DEFAULT_DRAIN_SECONDS = 5.0
DEFAULT_GRACE_SECONDS = 5.0
# Read by every service, without a service prefix.
SUITE_WIDE_VARIABLES = frozenset({"RAPPORT_WORKSPACES_FILE"})


class Checker:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.problems: list[str] = []
        self.manifests = 0
        self.kustomizations = 0
        self.resource_files: set[Path] = set()
        self.patch_files: set[Path] = set()  # named patches (no target selector)
        self.targeted_patch_files: set[Path] = set()
        self.generator_files: set[Path] = set()
        self.defined: set[tuple[str, str]] = set()  # (kind, name) of resources and generators
        # Deployment name -> DRAIN/GRACE seconds set in its rapport-<name>-config ConfigMap.
        self.timings: dict[str, dict[str, float]] = {}
        self.deployments: list[tuple[Path | str, dict]] = []

    def problem(self, where: Path | str, message: str) -> None:
        self.problems.append(f"{self._rel(where)}: {message}")

    def _rel(self, path: Path | str) -> str:
        try:
            return str(Path(path).relative_to(self.root.parent))
        except ValueError:
            return str(path)

    # ------------------------------------------------------------------ loading
    def load(self, path: Path) -> list[Any] | None:
        try:
            return [
                d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d is not None
            ]
        except (OSError, yaml.YAMLError) as exc:
            self.problem(path, f"cannot read YAML: {exc}")
            return None

    # ----------------------------------------------------------- kustomizations
    def check_kustomization(self, path: Path) -> None:
        docs = self.load(path)
        if docs is None:
            return
        self.kustomizations += 1
        if len(docs) != 1 or not isinstance(docs[0], dict):
            self.problem(path, "a kustomization file must hold exactly one mapping")
            return
        k = docs[0]
        if k.get("kind", "Kustomization") not in KUSTOMIZE_KINDS:
            self.problem(path, f"kind {k.get('kind')!r} is not Kustomization or Component")
        base = path.parent
        for field in ("resources", "components"):
            for entry in k.get(field) or []:
                if not isinstance(entry, str):
                    self.problem(path, f"{field}: entry {entry!r} is not a path")
                    continue
                if _is_remote(entry):
                    continue
                target = (base / entry).resolve()
                if target.is_dir():
                    if not any((target / n).is_file() for n in KUSTOMIZATION_NAMES):
                        self.problem(path, f"{field}: folder {entry} has no kustomization.yaml")
                elif target.is_file():
                    if field == "components":
                        self.problem(path, f"components: {entry} must be a folder")
                    else:
                        self.resource_files.add(target)
                else:
                    self.problem(path, f"{field}: {entry} does not exist")
        patches = list(k.get("patches") or [])
        patches += [{"path": p} for p in k.get("patchesStrategicMerge") or [] if isinstance(p, str)]
        patches += list(k.get("patchesJson6902") or [])
        for patch in patches:
            if not isinstance(patch, dict):
                self.problem(path, f"patches: entry {patch!r} is not a mapping")
                continue
            if "path" not in patch:
                if "patch" not in patch:
                    self.problem(path, "patches: entry has neither path nor patch")
                continue
            target = (base / patch["path"]).resolve()
            if not target.is_file():
                self.problem(path, f"patches: {patch['path']} does not exist")
            elif patch.get("target"):
                self.targeted_patch_files.add(target)
            else:
                self.patch_files.add(target)
        for field, kind in (("configMapGenerator", "ConfigMap"), ("secretGenerator", "Secret")):
            for gen in k.get(field) or []:
                if "name" in gen:
                    self.defined.add((kind, gen["name"]))
                for item in list(gen.get("files") or []) + list(gen.get("envs") or []):
                    file = item.split("=", 1)[-1]
                    target = (base / file).resolve()
                    if not target.is_file():
                        self.problem(path, f"{field} {gen.get('name')}: {file} does not exist")
                    else:
                        self.generator_files.add(target)

    # ---------------------------------------------------------------- resources
    def check_resource_file(self, path: Path) -> None:
        docs = self.load(path)
        if docs is None:
            return
        for i, doc in enumerate(docs):
            where = f"{path}#{i}" if len(docs) > 1 else path
            if not isinstance(doc, dict) or "apiVersion" not in doc or "kind" not in doc:
                self.problem(where, "listed as a resource but not a Kubernetes object")
                continue
            if doc["kind"] in KUSTOMIZE_KINDS:
                self.problem(where, f"{doc['kind']} listed as a resource")
                continue
            self.manifests += 1
            name = (doc.get("metadata") or {}).get("name", "?")
            self.defined.add((doc["kind"], name))
            try:
                kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
            except kubernetes_validate.ValidationError as exc:
                field = ".".join(str(p) for p in exc.path) or "(root)"
                self.problem(
                    where,
                    f"{doc['kind']}/{name} invalid for Kubernetes "
                    f"{KUBERNETES_VERSION}: {field}: {exc.message}",
                )
            except kubernetes_validate.SchemaNotFoundError as exc:
                self.problem(where, exc.message)
            if doc["kind"] == "Deployment":
                # Checked once every ConfigMap is read: they may set drain and grace.
                self.deployments.append((where, doc))
            elif doc["kind"] == "ConfigMap":
                self.check_configmap(where, doc)

    def check_patch_file(self, path: Path) -> None:
        docs = self.load(path)
        if docs is None:
            return
        for i, doc in enumerate(docs):
            where = f"{path}#{i}" if len(docs) > 1 else path
            if not isinstance(doc, dict):  # JSON 6902 patches are lists
                continue
            kind = doc.get("kind")
            name = (doc.get("metadata") or {}).get("name")
            if kind and name and (kind, name) not in self.defined:
                self.problem(where, f"patch targets {kind}/{name}, which no resource defines")
            if kind == "Deployment":
                self.check_env_names(where, name, doc)

    # -------------------------------------------------------------------- rules
    def check_deployment(self, where: Path | str, d: dict) -> None:
        name = d["metadata"].get("name", "?")
        pod = ((d.get("spec") or {}).get("template") or {}).get("spec") or {}
        pod_sc = pod.get("securityContext") or {}
        containers = pod.get("containers") or []
        if not containers:
            self.problem(where, f"Deployment/{name}: no containers")
        timings = {"DRAIN": DEFAULT_DRAIN_SECONDS, "GRACE": DEFAULT_GRACE_SECONDS}
        timings.update(self.timings.get(name, {}))
        for c in containers:
            cname = f"Deployment/{name} container {c.get('name')}"
            ports = {p.get("containerPort") for p in c.get("ports") or []}
            for probe in ("readinessProbe", "livenessProbe"):
                grpc = (c.get(probe) or {}).get("grpc")
                if not grpc:
                    self.problem(
                        where, f"{cname}: {probe} must be a gRPC probe (grpc: {{port: N}})"
                    )
                elif grpc.get("port") not in ports:
                    self.problem(
                        where,
                        f"{cname}: {probe} port {grpc.get('port')} is not a "
                        f"containerPort {sorted(p for p in ports if p)}",
                    )
            res = c.get("resources") or {}
            for part in ("requests", "limits"):
                for r in ("cpu", "memory"):
                    if r not in (res.get(part) or {}):
                        self.problem(where, f"{cname}: resources.{part}.{r} missing")
            sc = c.get("securityContext") or {}

            def eff(key: str, sc: dict = sc) -> Any:
                return sc[key] if key in sc else pod_sc.get(key)

            if eff("runAsNonRoot") is not True:
                self.problem(where, f"{cname}: runAsNonRoot must be true")
            uid = eff("runAsUser")
            if not isinstance(uid, int) or uid <= 0:
                self.problem(where, f"{cname}: runAsUser must be a non-root numeric uid")
            if sc.get("allowPrivilegeEscalation") is not False:
                self.problem(
                    where, f"{cname}: securityContext.allowPrivilegeEscalation must be false"
                )
            if sc.get("readOnlyRootFilesystem") is not True:
                self.problem(where, f"{cname}: securityContext.readOnlyRootFilesystem must be true")
            if sc.get("privileged"):
                self.problem(where, f"{cname}: privileged containers are not allowed")
            if "ALL" not in ((sc.get("capabilities") or {}).get("drop") or []):
                self.problem(where, f"{cname}: securityContext.capabilities.drop must include ALL")
            if (eff("seccompProfile") or {}).get("type") not in ("RuntimeDefault", "Localhost"):
                self.problem(where, f"{cname}: seccompProfile.type must be RuntimeDefault")
            if "/tmp" not in {m.get("mountPath") for m in c.get("volumeMounts") or []}:
                self.problem(
                    where, f"{cname}: mount an emptyDir on /tmp (read-only root filesystem)"
                )
            for e in c.get("env") or []:
                for part in timings:
                    if e.get("name", "").endswith(f"_{part}_SECONDS") and "value" in e:
                        timings[part] = float(e["value"])
        needed = timings["DRAIN"] + timings["GRACE"]
        tgps = pod.get("terminationGracePeriodSeconds")
        if not isinstance(tgps, int) or tgps <= needed:
            self.problem(
                where,
                f"Deployment/{name}: terminationGracePeriodSeconds must be set and longer "
                f"than drain + grace ({timings['DRAIN']:g} s + {timings['GRACE']:g} s)",
            )
        if pod.get("hostNetwork") or pod.get("hostPID") or pod.get("hostIPC"):
            self.problem(where, f"Deployment/{name}: host namespaces are not allowed")
        self.check_env_names(where, name, d)

    def check_env_names(self, where: Path | str, name: str | None, d: dict) -> None:
        """RAPPORT_<SVC>_ variables of a Deployment must be its own service's."""
        prefix = f"RAPPORT_{(name or '').upper()}_"
        pod = ((d.get("spec") or {}).get("template") or {}).get("spec") or {}
        for c in pod.get("containers") or []:
            for e in c.get("env") or []:
                env = e.get("name", "")
                if (
                    env.startswith("RAPPORT_")
                    and not env.startswith(prefix)
                    and env not in SUITE_WIDE_VARIABLES
                ):
                    self.problem(where, f"Deployment/{name}: variable {env} is not {prefix}*")

    def check_configmap(self, where: Path | str, cm: dict) -> None:
        name = cm["metadata"].get("name", "")
        if name.startswith("rapport-") and name.endswith("-config"):
            prefix = f"RAPPORT_{name[len('rapport-') : -len('-config')].upper()}_"
            service = name[len("rapport-") : -len("-config")]
            for key, value in (cm.get("data") or {}).items():
                if not key.startswith(prefix):
                    self.problem(where, f"ConfigMap/{name}: key {key} is not {prefix}*")
                for part in ("DRAIN", "GRACE"):
                    if key == f"{prefix}{part}_SECONDS":
                        self.timings.setdefault(service, {})[part] = float(value)

    # --------------------------------------------------------------------- run
    def run(self) -> int:
        if not self.root.is_dir():
            print(f"{self.root}: not a folder", file=sys.stderr)
            return 2
        yamls = sorted(p.resolve() for p in self.root.rglob("*") if p.suffix in (".yaml", ".yml"))
        kust = [p for p in yamls if p.name in KUSTOMIZATION_NAMES]
        kust += sorted(p.resolve() for p in self.root.rglob("Kustomization"))
        if not kust:
            self.problem(self.root, "no kustomization.yaml found")
        for p in kust:
            self.check_kustomization(p)
        for p in sorted(self.resource_files):
            self.check_resource_file(p)
        for where, deployment in self.deployments:
            self.check_deployment(where, deployment)
        for p in sorted(self.patch_files):
            self.check_patch_file(p)
        used = set(kust) | self.resource_files | self.patch_files
        used |= self.targeted_patch_files | self.generator_files
        for p in yamls:
            if p not in used:
                self.problem(p, "not used by any kustomization (resource, patch or generator)")
        if self.problems:
            for line in self.problems:
                print(f"ERROR {line}")
            print(
                f"checked {self.manifests} manifests, {self.kustomizations} kustomizations: "
                f"{len(self.problems)} problem(s)"
            )
            return 1
        print(
            f"checked {self.manifests} manifests, {self.kustomizations} kustomizations "
            f"against Kubernetes {KUBERNETES_VERSION}: OK"
        )
        return 0


def _is_remote(entry: str) -> bool:
    return "://" in entry or entry.startswith(("github.com/", "git@"))


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(f"usage: {argv[0]} <folder of Kubernetes manifests>", file=sys.stderr)
        return 2
    return Checker(Path(argv[1]).resolve()).run()


if __name__ == "__main__":
    sys.exit(main(sys.argv))
