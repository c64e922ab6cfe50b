"""Which folders are deployer's (deployer.local.ownership): the marker, and the refusals that keep a
user's folder, home or / out of reach."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from deployer.local.node_lock import LocalClusterError
from deployer.local.ownership import mark, marker_info, owned, refuse_foreign
from deployer.local.spec import MARKER, Layout


def test_owned_tells_deployers_folder_from_a_missing_or_empty_one_and_from_someone_elses(tmp_path):
    lay = Layout(tmp_path / "local")
    assert owned(lay) is None  # no folder
    lay.root.mkdir()
    assert owned(lay) is None  # an empty one
    (lay.root / "notes.md").write_text("x")
    assert owned(lay) is False
    lay.marker.write_text("{}")
    assert owned(lay) is True
    (tmp_path / "a-file").write_text("x")
    assert owned(Layout(tmp_path / "a-file")) is False


def test_a_folder_with_files_but_no_marker_is_refused_naming_the_action(tmp_path):
    lay = Layout(tmp_path)
    (tmp_path / "notes.md").write_text("x")
    for action in ("read", "use", "delete"):
        with pytest.raises(LocalClusterError) as e:
            refuse_foreign(lay, action)
        assert e.value.message == f"{tmp_path} was not created by deployer (it has no {MARKER} marker); refusing to {action} it"
        assert e.value.hint == "pass --state-dir a new or empty folder for the local cluster (it uses <state-dir>/local)"
    lay.marker.write_text("{}")
    refuse_foreign(lay, "delete")  # marked: deployer's own
    refuse_foreign(Layout(tmp_path / "new"), "use")  # missing: `up` creates it


def test_a_cluster_kept_directly_in_a_home_or_root_folder_is_refused(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    for root, parent in ((tmp_path / "local", tmp_path), (tmp_path, tmp_path.parent), (Path("/local"), Path("/"))):
        with pytest.raises(LocalClusterError) as e:
            refuse_foreign(Layout(root), "read")
        assert e.value.message == (f"refusing to keep the local cluster in {root}: its state folder {parent} "
                                   "is a home or root folder")
        assert e.value.hint == "pass --state-dir a folder of its own (e.g. ~/.local/state/deployer)"


def test_the_marker_is_written_once_and_read_back(tmp_path):
    lay = Layout(tmp_path)
    assert marker_info(lay) == {}
    mark(lay, created_folder=True)
    assert lay.marker.read_text() == '{"created_by": "deployer local up", "created_folder": true}\n'
    mark(lay, created_folder=False)  # an existing marker is kept: `down` still removes the folder it created
    assert marker_info(lay) == {"created_by": "deployer local up", "created_folder": True}
    lay.marker.write_text("not json")
    assert marker_info(lay) == {}
    lay.marker.write_text(json.dumps({"created_folder": False}))
    assert marker_info(lay) == {"created_folder": False}
