"""Files deployer writes where a user said (--report-file, --plan-file): whole or not at all."""

from __future__ import annotations

import os
import stat

from deployer.userfiles import write_text


def test_a_file_is_replaced_whole_keeping_its_mode_and_leaving_no_temporary_file(tmp_path):
    target = tmp_path / "report.json"
    target.write_text("old")
    target.chmod(0o640)
    write_text(target, '{"ok": true}\n', "--report-file")
    assert target.read_text() == '{"ok": true}\n'
    assert stat.S_IMODE(target.stat().st_mode) == 0o640
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.json"]


def test_a_new_file_gets_the_umask_mode(tmp_path):
    write_text(tmp_path / "new.json", "x", "--report-file")
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE((tmp_path / "new.json").stat().st_mode) == 0o666 & ~umask


def test_a_symlink_stays_and_its_target_is_written(tmp_path):
    real = tmp_path / "real.json"
    real.write_text("old")
    link = tmp_path / "link.json"
    link.symlink_to(real)
    write_text(link, "new", "--report-file")
    assert link.is_symlink() and real.read_text() == "new"


def test_a_target_that_is_not_a_regular_file_is_written_to_as_it_is(tmp_path):
    write_text(_devnull(), "x", "--report-file")  # not replaced by a regular file


def _devnull():
    from pathlib import Path

    return Path(os.devnull)
