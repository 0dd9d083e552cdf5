from __future__ import annotations

from pathlib import Path

import pytest

from tests.deploy.chart import Helm
from tests.k8s.env import helm_binary


@pytest.fixture(scope="session")
def helm(tmp_path_factory: pytest.TempPathFactory) -> Helm:
    return Helm(helm_binary(), Path(tmp_path_factory.mktemp("helm-home")))
