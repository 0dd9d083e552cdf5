from __future__ import annotations

from pathlib import Path

import pytest

from tests.deploy.chart import Renderer, build_renderer


@pytest.fixture(scope="session")
def helm(tmp_path_factory: pytest.TempPathFactory) -> Renderer:
    return Renderer(build_renderer(Path(tmp_path_factory.mktemp("helmtemplate"))))
