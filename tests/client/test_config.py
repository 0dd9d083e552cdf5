"""Server and token: flags, then environment, then the config profile."""

from __future__ import annotations

from pathlib import Path

import pytest

from scheduler.client import InvalidRequest, resolve
from scheduler.client.config import ConfigFile, Profile, save_config

CONFIG = """\
current: prod
profiles:
  prod: {server: "https://aicc.example.org", token: from-profile}
  lab: {server: "lab:8080", token_file: TOKEN_FILE}
"""


@pytest.fixture
def path(tmp_path: Path) -> Path:
    (tmp_path / "token").write_text("from-file\n")
    p = tmp_path / "config.yaml"
    p.write_text(CONFIG.replace("TOKEN_FILE", str(tmp_path / "token")))
    return p


def test_flags_beat_environment_beat_profile(path: Path) -> None:
    env = {"AICC_SERVER": "http://env:1", "AICC_TOKEN": "from-env"}
    c = resolve(env={}, path=path)
    assert (c.server, c.token, c.profile) == ("https://aicc.example.org", "from-profile", "prod")
    c = resolve(env=env, path=path)
    assert (c.server, c.token) == ("http://env:1", "from-env")
    c = resolve("http://flag:2/", "from-flag", env=env, path=path)
    assert (c.server, c.token) == ("http://flag:2", "from-flag")


def test_a_named_profile_with_a_token_file(path: Path) -> None:
    c = resolve(profile="lab", env={}, path=path)
    assert (c.server, c.token, c.profile) == ("http://lab:8080", "from-file", "lab")
    c = resolve(env={"AICC_PROFILE": "lab"}, path=path)
    assert c.profile == "lab"


def test_an_unknown_profile_or_a_bad_file_is_a_clean_error(path: Path, tmp_path: Path) -> None:
    with pytest.raises(InvalidRequest, match=r"no profile 'nope'.*lab, prod"):
        resolve(profile="nope", env={}, path=path)
    bad = tmp_path / "bad.yaml"
    bad.write_text("profiles: {x: {servr: y}}\n")
    with pytest.raises(InvalidRequest, match=r"profiles\.x\.servr"):
        resolve(env={}, path=bad)


def test_no_config_at_all_means_the_local_default(tmp_path: Path) -> None:
    c = resolve(env={}, path=tmp_path / "missing.yaml")
    assert (c.server, c.token, c.profile) == ("http://127.0.0.1:8080", None, None)


def test_the_file_is_written_private(tmp_path: Path) -> None:
    p = tmp_path / "sub" / "config.yaml"
    save_config(p, ConfigFile(current="a", profiles={"a": Profile(server="http://s", token="secret")}))
    assert p.stat().st_mode & 0o777 == 0o600
    assert resolve(env={}, path=p).token == "secret"
