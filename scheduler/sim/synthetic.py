"""A seeded synthetic workload, for tests and for scale.

Jobs arrive in Poisson bursts at whole seconds; gang sizes and run times
follow the shapes of the ITP trace (mostly single devices, a tail of whole
8-device nodes up to 64; log-normal run times, median about 1 hour). The
arrival rate is set so the offered load is ``load`` x the center's devices.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence

from scheduler.domain import Center, Tenant
from scheduler.sim.trace import Trace, TraceJob, gpu_node_split

#: (devices, weight): the ITP mix of gang sizes
GANGS: Sequence[tuple[int, float]] = ((1, 83.2), (2, 2.1), (4, 3.4), (8, 10.1), (16, 0.55),
                                      (32, 0.5), (64, 0.1))


def synthetic_trace(center: Center, tenants: dict[str, Tenant], jobs: int, *, seed: int = 0,
                    load: float = 0.9, median_s: float = 3600.0, sigma: float = 1.2,
                    node_size: int = 8, accelerator_types: Sequence[str] = ()) -> Trace:
    rng = random.Random(seed)
    names = sorted(tenants)
    weights = [max(tenants[n].quota.guaranteed, 1) for n in names]
    sizes = [g for g, _ in GANGS]
    gang_w = [w for _, w in GANGS]
    mean_devices = sum(g * w for g, w in GANGS) / sum(gang_w)
    mean_runtime = median_s * math.exp(sigma * sigma / 2)
    devices = sum(center.devices_by_type().values())
    rate = load * devices / (mean_devices * mean_runtime)  # jobs per second
    types = tuple(accelerator_types)
    out: list[TraceJob] = []
    t = 0.0
    while len(out) < jobs:
        t += rng.expovariate(rate / 4)  # bursts of 4 jobs on average
        burst = 1 + min(int(rng.expovariate(1 / 3)), 31)
        for _ in range(min(burst, jobs - len(out))):
            tenant = rng.choices(names, weights)[0]
            gpus = rng.choices(sizes, gang_w)[0]
            workers, per = gpu_node_split(gpus, node_size)
            duration = max(60.0, round(rng.lognormvariate(math.log(median_s), sigma)))
            out.append(TraceJob(f"s{len(out)}", tenant, float(math.floor(t)), duration, workers, per,
                                accelerator_types=types))
    return Trace("synthetic", out, center, tenants, None,
                 (f"synthetic: {jobs} jobs, seed {seed}, offered load {load:.2f}",))
