"""Where the server is and which token to use: flags, then environment, then a profile.

The config file (``~/.config/aicc/config.yaml``, or ``$AICC_CONFIG``) holds
named profiles::

    current: prod
    profiles:
      prod:  {server: "https://aicc.example.org", token_file: ~/.aicc-admin-token}
      local: {server: "http://127.0.0.1:8080", token: "aicc_..."}

A profile is chosen by ``--profile``, else ``$AICC_PROFILE``, else ``current``,
else ``default``. A flag beats the environment (``AICC_SERVER``,
``AICC_TOKEN``), which beats the profile.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from scheduler.client.errors import InvalidRequest

DEFAULT_SERVER = "http://127.0.0.1:8080"
DEFAULT_PROFILE = "default"


class Profile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    server: str | None = None
    token: str | None = None
    #: A file holding the token (e.g. the admin token ``aicc serve`` wrote).
    token_file: str | None = None
    #: Seconds to wait for an answer.
    timeout: float | None = Field(default=None, gt=0)


class ConfigFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    current: str | None = None
    profiles: dict[str, Profile] = Field(default_factory=dict)


@dataclass(frozen=True)
class Connection:
    """What a client needs, and where each part came from (for error messages)."""

    server: str
    token: str | None
    profile: str | None
    timeout: float = 30.0


def config_path(env: Mapping[str, str] | None = None) -> Path:
    env = os.environ if env is None else env
    if env.get("AICC_CONFIG"):
        return Path(env["AICC_CONFIG"]).expanduser()
    from platformdirs import user_config_dir

    return Path(user_config_dir("aicc", appauthor=False)) / "config.yaml"


def load_config(path: Path) -> ConfigFile:
    if not path.exists():
        return ConfigFile()
    try:
        data = yaml.safe_load(path.read_text()) or {}
        return ConfigFile.model_validate(data)
    except (OSError, yaml.YAMLError) as exc:
        raise InvalidRequest(f"cannot read the config file {path}: {exc}") from None
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise InvalidRequest(f"config file {path}: {where}: {first['msg']}") from None


def save_config(path: Path, config: ConfigFile) -> None:
    """Write the file 0600: it may hold tokens."""
    path.parent.mkdir(parents=True, exist_ok=True)
    data: dict[str, Any] = config.model_dump(exclude_none=True)
    text = yaml.safe_dump(data, sort_keys=False)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, text.encode())
    finally:
        os.close(fd)
    os.replace(tmp, path)


def _read_token_file(path: str) -> str:
    p = Path(path).expanduser()
    try:
        token = p.read_text().strip()
    except OSError as exc:
        raise InvalidRequest(f"cannot read the token file {p}: {exc.strerror or exc}") from None
    if not token:
        raise InvalidRequest(f"the token file {p} is empty")
    return token


def resolve(server: str | None = None, token: str | None = None, profile: str | None = None,
            env: Mapping[str, str] | None = None, path: Path | None = None) -> Connection:
    """Flags, then environment, then the profile, then the defaults."""
    env = os.environ if env is None else env
    path = path or config_path(env)
    config = load_config(path)
    name = profile or env.get("AICC_PROFILE") or config.current
    chosen: Profile | None = None
    if name is not None:
        chosen = config.profiles.get(name)
        if chosen is None and (profile or env.get("AICC_PROFILE")):
            known = ", ".join(sorted(config.profiles)) or "none"
            raise InvalidRequest(f"no profile {name!r} in {path} (profiles: {known})")
    else:
        chosen = config.profiles.get(DEFAULT_PROFILE)
        name = DEFAULT_PROFILE if chosen is not None else None
    chosen = chosen or Profile()
    srv = server or env.get("AICC_SERVER") or chosen.server or DEFAULT_SERVER
    tok = token or env.get("AICC_TOKEN") or chosen.token
    if tok is None and chosen.token_file:
        tok = _read_token_file(chosen.token_file)
    if not srv.startswith(("http://", "https://")):
        srv = "http://" + srv
    return Connection(srv.rstrip("/"), tok, name, chosen.timeout or 30.0)
