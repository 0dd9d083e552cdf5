from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.kube.fake_api import FakeKube


@pytest.fixture
def fake_kube() -> Iterator[FakeKube]:
    pytest.importorskip("kubernetes", reason="SKIPPED: the 'kube' extra (kubernetes client) is not installed")
    kube = FakeKube().start()
    try:
        yield kube
    finally:
        kube.stop()
