"""Build the real Kubernetes programs the k8s tests run, from their Go modules.

`python3 tests/k8s/tools.py build` (what `make k8s-tools` runs) builds every tool that is
not in the cache yet into ``<cache>/<key>/bin`` and prints that folder as its last line;
``<key>`` names the versions, so a version bump builds afresh and an old build is never
reused by mistake. The CRDs the chart needs (ServiceMonitor, PrometheusRule, RayCluster,
RayJob) are generated there too, by controller-gen from their projects' Go types, into
``<cache>/<key>/crds``. Nothing is written into the repository.

kube-apiserver and etcd cannot be ``go install``-ed: their go.mod files ``replace`` their
sibling modules with local paths. Each is built from a small wrapper module that requires
it and pins every replaced sibling to the same release (for Kubernetes the staging list is
read from k8s.io/kubernetes's own go.mod), with the version ldflags set so ``/version``
tells the truth. Stdlib only: CI runs it before the virtualenv exists.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

VERSIONS = {
    "kubernetes": "v1.36.3",  # its go.mod pins etcd client v3.6.x
    "etcd": "v3.6.17",
    "helm": "v4.3.2",
    "kwok": "v0.8.0",
    "controller-tools": "v0.20.1",
    "kuberay": "v1.5.0",
    "prometheus-operator": "v0.95.2",
}

# The tools `ensure_tools` requires; kuberay-operator is optional (built when it builds).
REQUIRED = ("etcd", "kube-apiserver", "helm", "kwok", "controller-gen")
CRD_FILES = ("servicemonitors", "prometheusrules", "rayclusters", "rayjobs")


def go_binary() -> str:
    found = shutil.which("go") or "/usr/local/go/bin/go"
    if not Path(found).exists():
        raise SystemExit("error: no Go toolchain (need go >= 1.26 on PATH or at /usr/local/go)")
    return found


def cache_root() -> Path:
    explicit = os.environ.get("AICC_K8S_TOOLS_CACHE")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "aicc-k8s-tools"


def cache_key() -> str:
    digest = hashlib.sha256(json.dumps(VERSIONS, sort_keys=True).encode()).hexdigest()[:10]
    return f"k8s-{VERSIONS['kubernetes']}-{digest}"


def tools_dir() -> Path:
    return cache_root() / cache_key()


def bin_dir() -> Path:
    return tools_dir() / "bin"


def crd_dir() -> Path:
    return tools_dir() / "crds"


def missing_tools() -> list[str]:
    """Required tools or CRDs the cache lacks (empty when the k8s tests can run)."""
    missing = [t for t in REQUIRED if not (bin_dir() / t).is_file()]
    missing += [f"crd {c}" for c in CRD_FILES if not list(crd_dir().glob(f"*_{c}.yaml"))]
    return missing


class Builder:
    """Runs the go commands with a shared module cache and a log per step."""

    def __init__(self) -> None:
        self.root = tools_dir()
        self.bin = bin_dir()
        self.logs = self.root / "logs"
        for d in (self.bin, self.logs, self.root / "src"):
            d.mkdir(parents=True, exist_ok=True)
        self.env = dict(os.environ)
        self.env.setdefault("GOFLAGS", f"-p={max(1, min(4, os.cpu_count() or 1))}")
        self.env["GOBIN"] = str(self.bin)
        self.env["CGO_ENABLED"] = "0"
        self.env.setdefault("GOTOOLCHAIN", "local")
        self.timings: dict[str, float] = {}

    def go_cmd(self, step: str, args: list[str], cwd: Path) -> str:
        go = go_binary()  # looked up only when something is to be built
        with open(self.logs / f"{step}.log", "a") as log:
            log.write(f"$ go {' '.join(args)}\n")
            log.flush()
            proc = subprocess.run(
                [go, *args], cwd=cwd, env=self.env, stdout=subprocess.PIPE,
                stderr=log, text=True,
            )
        if proc.returncode != 0:
            tail = (self.logs / f"{step}.log").read_text().splitlines()[-15:]
            raise BuildError(step, "\n".join(tail))
        return proc.stdout

    def module_info(self, step: str, module: str, version: str) -> dict:
        out = self.go_cmd(step, ["mod", "download", "-json", f"{module}@{version}"], self.root)
        info: dict = json.loads(out)
        return info

    def wrapper(self, name: str, requires: dict[str, str], replaces: dict[str, str],
                main_go: str | None = None) -> Path:
        src = self.root / "src" / name
        if src.exists():
            shutil.rmtree(src)
        src.mkdir(parents=True)
        lines = [f"module aicc.invalid/k8s-tools/{name}", "", "go 1.26.0", "", "require ("]
        lines += [f"\t{m} {v}" for m, v in sorted(requires.items())]
        lines += [")", "", "replace ("]
        lines += [f"\t{m} => {m} {v}" for m, v in sorted(replaces.items())]
        lines += [")", ""]
        (src / "go.mod").write_text("\n".join(lines))
        if main_go is not None:
            (src / "main.go").write_text(main_go)
        return src

    def timed(self, tool: str, fn) -> None:  # type: ignore[no-untyped-def]
        if (self.bin / tool).is_file():
            print(f"k8s-tools: {tool}: cached", file=sys.stderr)
            return
        print(f"k8s-tools: {tool}: building ...", file=sys.stderr, flush=True)
        start = time.monotonic()
        fn()
        self.timings[tool] = time.monotonic() - start
        print(f"k8s-tools: {tool}: built in {self.timings[tool]:.0f} s", file=sys.stderr,
              flush=True)

    # --- the tools -------------------------------------------------------------------

    def install(self, step: str, pkg: str, ldflags: str = "") -> None:
        args = ["install", "-trimpath"]
        if ldflags:
            args += ["-ldflags", ldflags]
        self.go_cmd(step, [*args, pkg], self.root)

    def helm(self) -> None:
        v = VERSIONS["helm"]
        self.install("helm", f"helm.sh/helm/v4/cmd/helm@{v}",
                     f"-X helm.sh/helm/v4/internal/version.version={v}")

    def kwok(self) -> None:
        v = VERSIONS["kwok"]
        self.install("kwok", f"sigs.k8s.io/kwok/cmd/kwok@{v}",
                     f"-X sigs.k8s.io/kwok/pkg/consts.Version={v}")

    def controller_gen(self) -> None:
        v = VERSIONS["controller-tools"]
        self.install("controller-gen", f"sigs.k8s.io/controller-tools/cmd/controller-gen@{v}",
                     f"-X sigs.k8s.io/controller-tools/pkg/version.version={v}")

    def kuberay_operator(self) -> None:
        v = VERSIONS["kuberay"]
        self.install("kuberay-operator", f"github.com/ray-project/kuberay/ray-operator@{v}")
        built = self.bin / "ray-operator"
        if built.exists():
            built.rename(self.bin / "kuberay-operator")

    @staticmethod
    def local_replaces(gomod: str) -> list[str]:
        """Modules a go.mod replaces with a local directory (`x => ./y` or `x => ../y`),
        less the guards against importing a module at all (`=> ./FORBIDDEN_DEPENDENCY`)."""
        found = re.findall(r"^\s*(?:replace\s+)?(\S+)\s+=>\s+(\.{1,2}/\S+)\s*$", gomod, re.M)
        return [module for module, target in found if "FORBIDDEN" not in target]

    def etcd(self) -> None:
        v = VERSIONS["etcd"]
        server = "go.etcd.io/etcd/server/v3"
        info = self.module_info("etcd", server, v)
        siblings = self.local_replaces(Path(info["GoMod"]).read_text())
        main_go = (
            "// etcd's own main: the server module's etcdmain, as etcd's root module calls it.\n"
            "package main\n\n"
            'import (\n\t"os"\n\n\t"go.etcd.io/etcd/server/v3/etcdmain"\n)\n\n'
            "func main() { etcdmain.Main(os.Args) }\n"
        )
        src = self.wrapper("etcd", {server: v}, {m: v for m in siblings}, main_go)
        sha = (info.get("Origin") or {}).get("Hash", "")[:9]
        self.go_cmd("etcd", ["mod", "tidy"], src)
        ldflags = f"-X go.etcd.io/etcd/api/v3/version.GitSHA={sha}" if sha else ""
        self.go_cmd("etcd", ["build", "-trimpath", "-ldflags", ldflags, "-o",
                             str(self.bin / "etcd"), "."], src)

    def kube_apiserver(self) -> None:
        v = VERSIONS["kubernetes"]
        info = self.module_info("kube-apiserver", "k8s.io/kubernetes", v)
        staging = [m for m in self.local_replaces(Path(info["GoMod"]).read_text())
                   if m.startswith("k8s.io/")]
        if not staging:
            raise BuildError("kube-apiserver", "no staging replace lines in k8s.io/kubernetes go.mod")
        staging_v = "v0." + v.split(".", 1)[1]
        src = self.wrapper("kube", {"k8s.io/kubernetes": v}, {m: staging_v for m in staging})
        self.go_cmd("kube-apiserver",
                    ["get", f"k8s.io/kubernetes/cmd/kube-apiserver@{v}"], src)
        major, minor = v.lstrip("v").split(".")[:2]
        commit = (info.get("Origin") or {}).get("Hash", "")
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        flags = []
        for pkg in ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version"):
            flags += [f"-X {pkg}.gitVersion={v}", f"-X {pkg}.gitMajor={major}",
                      f"-X {pkg}.gitMinor={minor}", f"-X {pkg}.gitCommit={commit}",
                      f"-X {pkg}.gitTreeState=clean", f"-X {pkg}.buildDate={stamp}"]
        self.go_cmd("kube-apiserver",
                    ["build", "-trimpath", "-ldflags", " ".join(flags), "-o",
                     str(self.bin / "kube-apiserver"), "k8s.io/kubernetes/cmd/kube-apiserver"],
                    src)

    def crds(self) -> None:
        """ServiceMonitor, PrometheusRule, RayCluster, RayJob CRDs from the projects' types."""
        out = crd_dir()
        if not any(not list(out.glob(f"*_{c}.yaml")) for c in CRD_FILES):
            print("k8s-tools: crds: cached", file=sys.stderr)
            return
        start = time.monotonic()
        prom = "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring"
        ray = "github.com/ray-project/kuberay/ray-operator"
        src = self.wrapper("crds", {prom: VERSIONS["prometheus-operator"],
                                    ray: VERSIONS["kuberay"]}, {})
        (src / "tools.go").write_text(
            "// Only here so that `go mod tidy` keeps the API packages controller-gen reads.\n"
            "package crds\n\nimport (\n"
            f'\t_ "{prom}/v1"\n\t_ "{ray}/apis/ray/v1"\n)\n')
        self.go_cmd("crds", ["mod", "tidy"], src)
        tmp = self.root / "crds.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        for pkg, opts in ((f"{prom}/v1", "crd:crdVersions=v1,maxDescLen=0"),
                          (f"{ray}/apis/ray/v1",
                           "crd:maxDescLen=0,generateEmbeddedObjectMeta=true,"
                           "allowDangerousTypes=true")):
            with open(self.logs / "crds.log", "a") as log:
                proc = subprocess.run(
                    [str(self.bin / "controller-gen"), opts, f"paths={pkg}",
                     f"output:crd:artifacts:config={tmp}"],
                    cwd=src, env=self.env, stdout=log, stderr=log,
                )
            if proc.returncode != 0:
                raise BuildError("crds", (self.logs / "crds.log").read_text()[-2000:])
        shutil.rmtree(out, ignore_errors=True)
        tmp.rename(out)
        self.timings["crds"] = time.monotonic() - start


class BuildError(Exception):
    def __init__(self, step: str, detail: str) -> None:
        super().__init__(f"{step}: {detail}")
        self.step = step


def build() -> int:
    b = Builder()
    start = time.monotonic()
    order = [("helm", b.helm), ("etcd", b.etcd), ("kube-apiserver", b.kube_apiserver),
             ("kwok", b.kwok), ("controller-gen", b.controller_gen)]
    for tool, fn in order:
        try:
            b.timed(tool, fn)
        except BuildError as e:
            print(f"error: building {tool} failed; log {b.logs / (e.step + '.log')}:\n{e}",
                  file=sys.stderr)
            return 1
    try:
        b.crds()
    except BuildError as e:
        print(f"error: generating CRDs failed:\n{e}", file=sys.stderr)
        return 1
    # Optional: the KubeRay operator. A failure is recorded, not fatal; it is not retried
    # on every run (delete the marker to retry).
    failed = b.root / "kuberay-operator.failed"
    if not (b.bin / "kuberay-operator").is_file() and not failed.exists():
        try:
            b.timed("kuberay-operator", b.kuberay_operator)
        except BuildError as e:
            failed.write_text(str(e) + "\n")
            print(f"k8s-tools: kuberay-operator did not build (optional):\n{e}", file=sys.stderr)
    elif failed.exists():
        print(f"k8s-tools: kuberay-operator: failed before, see {failed}", file=sys.stderr)
    if b.timings:
        record = b.root / "timings.json"
        old = json.loads(record.read_text()) if record.exists() else {}
        old.update({k: round(s, 1) for k, s in b.timings.items()})
        record.write_text(json.dumps(old, indent=1) + "\n")
        print(f"k8s-tools: built {', '.join(b.timings)} in {time.monotonic() - start:.0f} s",
              file=sys.stderr)
    print(b.bin)
    return 0


def main(argv: list[str]) -> int:
    cmd = argv[1] if len(argv) > 1 else "build"
    if cmd == "build":
        return build()
    if cmd == "path":
        print(bin_dir())
        return 0
    print("usage: tools.py build|path", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
