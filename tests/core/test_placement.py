"""Placement: all or nothing; one node, then one rack, then the fewest racks; best fit."""

from tests.core.scenario import admitted, center, decide, nodes_of, pending, running, spec, waiting

T = [{"name": "t", "guaranteed": "1000P", "limit": "1000P"}]


def test_a_small_job_goes_to_the_partly_used_node_keeping_whole_nodes_free() -> None:
    c, tenants = center(("a", "gpu", 1, 3), tenants=T)
    busy = running("r1", spec("t", 1, 5), [("a-r01-n02", range(5))], "gpu")
    d = decide(c, tenants, pending(spec("t", 1, 2)), [busy])
    assert nodes_of(admitted(d)["p1"]) == ["a-r01-n02"]
    assert admitted(d)["p1"].workers[0].devices == (5, 6)


def test_a_gang_that_fits_one_node_stays_on_one_node() -> None:
    c, tenants = center(("a", "gpu", 2, 2), tenants=T)
    d = decide(c, tenants, pending(spec("t", 4, 2)))
    assert set(nodes_of(admitted(d)["p1"])) == {"a-r01-n01"}


def test_a_gang_that_fits_one_rack_stays_in_one_rack_even_if_another_rack_has_more_nodes_free() -> None:
    c, tenants = center(("a", "gpu", 2, 4), tenants=T)
    # rack 1 has 2 whole nodes free, rack 2 has 4: a 2-node gang best-fits rack 1
    busy = [running(f"r{i}", spec("t", 1, 8), [(f"a-r01-n0{i}", range(8))], "gpu") for i in (1, 2)]
    d = decide(c, tenants, pending(spec("t", 2, 8)), busy)
    assert nodes_of(admitted(d)["p1"]) == ["a-r01-n03", "a-r01-n04"]


def test_a_gang_bigger_than_any_rack_spans_the_fewest_racks() -> None:
    c, tenants = center(("a", "gpu", 4, 2), tenants=T)
    # 3 whole nodes needed; racks hold 2 nodes each: two racks, not three
    d = decide(c, tenants, pending(spec("t", 3, 8)))
    racks = {n.rsplit("-", 1)[0] for n in nodes_of(admitted(d)["p1"])}
    assert len(racks) == 2
    assert len(admitted(d)["p1"].workers) == 3


def test_gangs_are_all_or_nothing() -> None:
    c, tenants = center(("a", "gpu", 1, 2), tenants=T)
    d = decide(c, tenants, pending(spec("t", 3, 8)))
    assert d.admits == ()
    assert waiting(d) == {"p1": "Unsatisfiable"}
    busy = running("r1", spec("t", 1, 4), [("a-r01-n01", range(4))], "gpu")
    d = decide(c, tenants, pending(spec("t", 2, 8)), [busy])
    assert d.admits == ()
    assert waiting(d) == {"p1": "NoCapacity"}


def test_enough_free_devices_scattered_over_nodes_is_fragmentation() -> None:
    c, tenants = center(("a", "gpu", 1, 2), tenants=T)
    busy = [running(f"r{i}", spec("t", 1, 4), [(f"a-r01-n0{i}", range(4))], "gpu") for i in (1, 2)]
    d = decide(c, tenants, pending(spec("t", 1, 8)), busy)
    assert waiting(d) == {"p1": "Fragmented"}


def test_no_device_is_given_twice_within_one_decision() -> None:
    c, tenants = center(("a", "gpu", 2, 2), tenants=T)
    d = decide(c, tenants, pending(*[spec("t", 1, 3) for _ in range(12)]))
    seen = set()
    for p in admitted(d).values():
        for w in p.workers:
            for dev in w.devices:
                assert (w.node, dev) not in seen
                seen.add((w.node, dev))
    assert len(d.admits) == 8  # two 3-device jobs per 8-device node
    assert len(seen) == 24


def test_a_cordoned_node_takes_nothing_new_and_the_reason_says_so() -> None:
    c, tenants = center(("a", "gpu", 1, 2), tenants=T)
    from scheduler.domain import NodeState
    c = c.with_node_state("a-r01-n01", NodeState.CORDONED)
    busy = running("r1", spec("t", 1, 8), [("a-r01-n02", range(8))], "gpu")
    d = decide(c, tenants, pending(spec("t", 1, 1)), [busy])
    assert waiting(d) == {"p1": "Cordoned"}
    c = c.with_node_state("a-r01-n01", NodeState.READY)
    d = decide(c, tenants, pending(spec("t", 1, 1)), [busy])
    assert nodes_of(admitted(d)["p1"]) == ["a-r01-n01"]


def test_among_allowed_types_the_job_takes_the_one_that_fits_best() -> None:
    c, tenants = center(("a", "gpu-a", 1, 2), ("b", "gpu-b", 1, 2), tenants=T)
    # gpu-a has only scattered devices (needs 2 nodes); gpu-b has a whole node
    busy = [running(f"r{i}", spec("t", 1, 4), [(f"a-r01-n0{i}", range(4))], "gpu-a") for i in (1, 2)]
    d = decide(c, tenants, pending(spec("t", 2, 4, types=["gpu-a", "gpu-b"])), busy)
    assert admitted(d)["p1"].accelerator == "gpu-b"
    assert set(nodes_of(admitted(d)["p1"])) == {"b-r01-n01"}


def test_a_job_asking_only_for_types_the_center_lacks_is_unsatisfiable() -> None:
    c, tenants = center(("a", "gpu", 1, 2), tenants=T)
    d = decide(c, tenants, pending(spec("t", 1, 1, types=["tpu-v9"])))
    assert waiting(d) == {"p1": "Unsatisfiable"}
    assert "tpu-v9" in d.pending[0].detail


def test_cpu_and_memory_per_worker_bind_placement_too() -> None:
    c, tenants = center(("a", "gpu", 1, 2), tenants=T)  # 64 cpus per node
    d = decide(c, tenants, pending(spec("t", 2, 1, cpus=40)))
    assert len(set(nodes_of(admitted(d)["p1"]))) == 2  # 2 x 40 cpus cannot share a node


def test_a_job_with_cpus_avoids_the_node_where_it_would_strand_devices_without_cpus() -> None:
    c, tenants = center(("a", "gpu", 1, 2), tenants=T)  # 8 devices, 64 cpus per node
    hungry = running("r1", spec("t", 1, 4, cpus=60), [("a-r01-n02", range(4))], "gpu")  # 4 devices, 4 cpus left
    # Best fit alone would take n02, leaving its 3 other devices with no CPU: nobody could use them.
    d = decide(c, tenants, pending(spec("t", 1, 1, cpus=4)), [hungry])
    assert nodes_of(admitted(d)["p1"]) == ["a-r01-n01"]
    # Without CPUs to ask for, or on a node whose CPUs keep pace with its devices, the tightest node wins.
    d = decide(c, tenants, pending(spec("t", 1, 1)), [hungry])
    assert nodes_of(admitted(d)["p1"]) == ["a-r01-n02"]
    balanced = running("r1", spec("t", 1, 4, cpus=32), [("a-r01-n02", range(4))], "gpu")
    d = decide(c, tenants, pending(spec("t", 1, 1, cpus=4)), [balanced])
    assert nodes_of(admitted(d)["p1"]) == ["a-r01-n02"]


def test_a_gang_without_workers_or_devices_waits_as_unsatisfiable_and_harms_no_one() -> None:
    c, tenants = center(("a", "gpu", 1, 1), tenants=T)
    d = decide(c, tenants, pending(spec("t", 1, 0), spec("t", 0, 1), spec("t", 1, 1)))
    assert waiting(d) == {"p1": "Unsatisfiable", "p2": "Unsatisfiable"}
    assert list(admitted(d)) == ["p3"]
