"""An isolated job's working_dir, copied into its run folder: what ``excludes`` names stays
out (and out of the size limit), links are copied as links (aicc never follows one into
what the job may not read), and a folder beyond the limit is refused with its size."""

from __future__ import annotations

from pathlib import Path

import pytest

from scheduler.executors.ray import isolated
from scheduler.executors.ray.isolated import copy_working_dir


def _work(tmp_path: Path) -> Path:
    work = tmp_path / "train"
    (work / "pkg").mkdir(parents=True)
    (work / "pkg" / "model.py").write_text("x = 1\n")
    (work / "checkpoints").mkdir()
    (work / "checkpoints" / "big.bin").write_bytes(b"\0" * 4096)
    (tmp_path / "secret").write_text("service-secret\n")
    (work / "leak").symlink_to(tmp_path / "secret")
    return work


def test_excluded_files_and_folders_stay_out_and_links_stay_links(tmp_path: Path) -> None:
    target = copy_working_dir(_work(tmp_path), tmp_path / "run" / "work", ["checkpoints", "*.pyc"], None)
    assert (target / "pkg" / "model.py").read_text() == "x = 1\n"
    assert not (target / "checkpoints").exists()
    assert (target / "leak").is_symlink() and (target / "leak").readlink() == tmp_path / "secret"


def test_a_folder_beyond_the_limit_is_refused_but_excluded_bytes_do_not_count(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(isolated, "MAX_WORKING_DIR_BYTES", 1024)
    work = _work(tmp_path)
    with pytest.raises(ValueError, match="more than the 0 MiB"):
        copy_working_dir(work, tmp_path / "a", [], None)
    assert not (tmp_path / "a").exists()
    copy_working_dir(work, tmp_path / "b", ["checkpoints"], None)  # 6 bytes left: fine
