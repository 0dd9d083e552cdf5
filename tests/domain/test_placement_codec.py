"""One codec for placements: what the store keeps, the API shows and a Ray job reads."""

from __future__ import annotations

import json

from scheduler.domain import Placement, WorkerPlacement
from scheduler.domain import placement_codec as codec

GANG = Placement("H100", (WorkerPlacement("n1", (0, 1)), WorkerPlacement("n2", (3,)),
                          WorkerPlacement("n1", (2,))))


def test_the_stored_shape_round_trips() -> None:
    d = codec.to_dict(GANG)
    assert d == {"accelerator": "H100", "workers": [{"node": "n1", "devices": [0, 1]},
                                                    {"node": "n2", "devices": [3]},
                                                    {"node": "n1", "devices": [2]}]}
    assert codec.from_dict(json.loads(json.dumps(d))) == GANG
    assert codec.to_dict(None) is None and codec.from_dict(None) is None


def test_the_view_adds_the_distinct_nodes_in_worker_order() -> None:
    view = codec.to_view(GANG)
    assert view is not None and view["nodes"] == ["n1", "n2"]
    assert view["workers"] == codec.to_dict(GANG)["workers"]  # type: ignore[index]
    assert codec.to_view(None) is None


def test_the_bundles_a_job_reads_round_trip() -> None:
    raw = codec.to_bundles_json(GANG)
    assert json.loads(raw)[1] == {"bundle": 1, "node": "n2", "devices": [3]}
    assert codec.from_bundles_json(raw, "H100") == GANG
    assert codec.from_bundles_json("not json", "H100") is None
    assert codec.from_bundles_json('[{"node": "n1"}]', "H100") is None
