"""Where job code runs: an OS identity and a bubblewrap sandbox that hold nothing of the service's.

Two layers, each enough for one threat:

- **An OS identity.** When aicc runs as root (containers, CI), the processes that run job
  code never do: the shared embedded Ray head runs as ``RAY_UID`` and an isolated tenant's
  jobs as the tenant's own uid (``tenant_uid``), numeric uids with no entry in /etc/passwd
  (nothing is added to the system). The service's files (mode 0600/0700, owned by root) and
  ``/proc/<pid>/environ`` of every other uid's processes are then out of their reach by the
  kernel's rules.
- **A sandbox** (Debian's ``bubblewrap``, ``bwrap``; it needs no privilege where unprivileged
  user namespaces are allowed, as on Debian and Ubuntu laptops): a read-only view of the
  host with empty folders over the service's data directory, the homes (``/root``,
  ``/home``, the service's ``$HOME``: CLI tokens), ``/tmp``, ``/var/tmp``, ``/run`` and
  ``/dev/shm``; a PID namespace of its own (no other process, so no other environment, is
  visible), optionally a network namespace of its own (only its own loopback: no route to
  the center's Ray cluster); only the folders it must write are bound in, read-write.

As root both apply (bwrap does the mounts as root, then ``setpriv`` drops to the uid inside);
otherwise the sandbox alone keeps the job away from the service's files and processes.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

#: The uid of the shared embedded Ray head (and its jobs) when aicc runs as root.
RAY_UID = int(os.environ.get("AICC_RAY_UID") or 1_100_000)
#: Isolated tenants' uids when aicc runs as root: ``TENANT_UID_BASE`` + a hash of the name.
TENANT_UID_BASE = int(os.environ.get("AICC_TENANT_UID_BASE") or 1_100_001)
TENANT_UID_SPAN = 1_000_000
#: Hidden by an empty folder in every sandbox, whatever the caller adds.
ALWAYS_HIDDEN = ("/root", "/home", "/run", "/var/tmp", "/tmp")


class SandboxUnavailable(RuntimeError):
    """bwrap is missing or refuses to start here; the message says what to install or allow."""


def is_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


def bwrap_path() -> str | None:
    return shutil.which("bwrap")


def require_bwrap() -> str:
    path = bwrap_path()
    if path is None:
        raise SandboxUnavailable("isolating job code needs bubblewrap: apt-get install bubblewrap "
                                 "(or set every tenant's isolation to shared)")
    return path


def tenant_uid(tenant: str) -> int:
    """The tenant's uid when aicc runs as root: stable across restarts and hosts, never root's
    nor the shared head's (two tenants sharing one is refused by the executor)."""
    digest = int.from_bytes(hashlib.sha256(tenant.encode()).digest()[:8], "big")
    return TENANT_UID_BASE + digest % TENANT_UID_SPAN


def runtime_paths() -> list[Path]:
    """What a Python process of this installation reads: the interpreter, its prefix and the
    import path (a virtualenv, an editable checkout, pyenv's Python under /root); sys.path[0]
    is the running script's folder (under ``python -m``, the working folder: not bound)."""
    out: list[Path] = []
    # aicc's own package: an editable install finds it by an import hook, not by sys.path, so
    # in a checkout under a hidden folder (/tmp, a home) it is bound back (the package alone,
    # not the checkout around it)
    import scheduler

    candidates = [Path(sys.executable).parent, Path(sys.prefix), Path(sys.base_prefix), Path(sys.exec_prefix),
                  Path(scheduler.__file__).parent, *(Path(p) for p in sys.path[1:] if p)]
    for p in candidates:
        for q in (p, p.resolve()):
            if q.is_dir() and q not in out:
                out.append(q)
    return out


def _under(path: Path, roots: Iterable[Path]) -> bool:
    return any(path == r or path.is_relative_to(r) for r in roots)


@dataclass(frozen=True)
class Sandbox:
    """One sandbox's shape; ``wrap`` turns a command into the command that runs it inside."""

    #: Dropped to (uid and gid) inside, when aicc is root; None: stay who we are.
    uid: int | None = None
    #: Bound read-write at the same path (a job's own folder, the head's temp dir).
    writable: Sequence[Path] = ()
    #: Hidden behind an empty folder (the data directory, token files' folders).
    hidden: Sequence[Path] = ()
    #: Its own network namespace: loopback only, nothing of the host's.
    new_net: bool = False
    #: Extra read-only binds (source, destination), e.g. a script.
    read_only: Sequence[tuple[Path, Path]] = field(default_factory=tuple)

    def masked(self) -> tuple[list[Path], list[Path]]:
        """The folders hidden by an empty one: the homes and temp folders; and ``hidden``."""
        home = os.environ.get("HOME")
        general = [Path(p) for p in ALWAYS_HIDDEN]
        if home and home != "/" and Path(home) not in general:
            general.append(Path(home))
        explicit = [Path(p).resolve() for p in self.hidden]
        return general, [p for i, p in enumerate(explicit) if p not in general and p not in explicit[:i]]

    def wrap(self, cmd: Sequence[str]) -> list[str]:
        args = [require_bwrap(), "--die-with-parent", "--unshare-pid", "--unshare-ipc", "--unshare-uts"]
        if self.new_net:
            args.append("--unshare-net")
        args += ["--ro-bind", "/", "/", "--dev", "/dev", "--perms", "1777", "--tmpfs", "/dev/shm",
                 "--proc", "/proc"]
        general, explicit = self.masked()
        for m in general:
            args += ["--perms", "1777" if str(m) in ("/tmp", "/var/tmp") else "0755", "--tmpfs", str(m)]
        made: set[Path] = {*general, *explicit}
        for p in runtime_paths():  # Python and its packages, where they live under a hidden folder
            if _under(p, general) and not any(h.is_relative_to(p) for h in explicit):
                args += [*_parents(p, made), "--ro-bind", str(p), str(p)]
        for m in explicit:  # last but the binds: hidden even inside what was bound back
            if m.is_dir():
                args += [*_parents(m, made), "--perms", "0755", "--tmpfs", str(m)]
        for src, dst in self.read_only:
            args += [*_parents(dst, made), "--ro-bind", str(src), str(dst)]
        for w in self.writable:
            args += [*_parents(w, made), "--bind", str(w), str(w)]
        args += ["--chdir", str(self.writable[0]) if self.writable else "/"]
        if self.uid is not None:
            args += ["--cap-add", "CAP_SETUID,CAP_SETGID", "--",
                     shutil.which("setpriv") or "setpriv", f"--reuid={self.uid}", f"--regid={self.uid}",
                     "--clear-groups", "--inh-caps=-all", "--"]
        else:
            args.append("--")
        return args + list(cmd)


def _parents(path: Path, made: set[Path]) -> list[str]:
    """``--dir`` for each folder above ``path`` inside a masked one, mode 0755 (bwrap would make
    them 0700 as root, which the dropped uid could not cross)."""
    out: list[str] = []
    for parent in reversed(path.parents):
        if parent in made or parent == Path("/") or not any(parent.is_relative_to(m) for m in made):
            continue
        made.add(parent)
        out += ["--perms", "0755", "--dir", str(parent)]
    return out


def own(path: Path, uid: int | None) -> None:
    """Give ``path`` (a folder it alone may use) to ``uid``, mode 0700; nothing when not root."""
    path.mkdir(parents=True, exist_ok=True)
    if uid is not None and is_root():
        os.chown(path, uid, uid)
    path.chmod(0o700)
