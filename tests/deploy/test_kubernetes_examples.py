"""deploy/kubernetes: the RayCluster has a GPU and an NPU pool. (That the server accepts
every manifest is checked against a real kube-apiserver in tests/k8s.)"""

from __future__ import annotations

import yaml

from tests.deploy.chart import ROOT

EXAMPLES = sorted((ROOT / "deploy" / "kubernetes").glob("*.yaml"))


def docs() -> list[dict]:  # type: ignore[type-arg]
    return [d for f in EXAMPLES for d in yaml.safe_load_all(f.read_text()) if d]


def test_the_ray_cluster_has_one_gpu_and_one_npu_pool() -> None:
    (ray,) = [d for d in docs() if d["kind"] == "RayCluster"]
    groups = {g["groupName"]: g for g in ray["spec"]["workerGroupSpecs"]}
    gpu = groups["a800"]["template"]["spec"]["containers"][0]["resources"]["limits"]
    npu = groups["ascend910b"]["template"]["spec"]["containers"][0]["resources"]["limits"]
    assert gpu["nvidia.com/gpu"] == "8" and npu["huawei.com/Ascend910"] == "8"
    assert groups["a800"]["rayStartParams"]["num-gpus"] == "8"
    assert yaml.safe_load(yaml.safe_load(groups["ascend910b"]["rayStartParams"]["resources"])) == {"NPU": 8}
    assert ray["spec"]["rayVersion"] == "2.60.0"
    from scheduler.centerfile import load_center

    shipped = set(load_center().center.accelerators)
    for g in groups.values():  # Ray node labels name the center's accelerator types
        assert g["labels"]["aicc.io/accelerator"] in shipped and "labels" not in g["rayStartParams"]
        env = {e["name"]: e for e in g["template"]["spec"]["containers"][0]["env"]}
        assert env["RAY_OVERRIDE_LABELS"]["value"] == '{"aicc.io/node": "$(AICC_NODE_NAME)"}'

