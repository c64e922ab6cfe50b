"""The local cluster's facade (deployer.local.cluster.LocalCluster) and `deployer local` before
anything starts: never read, reuse or delete a folder deployer did not create; one `up` or `down` per
folder; `down --keep-data` keeps the volumes."""

from __future__ import annotations

import json
import sys

import pytest

from deployer.adapters.process import ProcessRunner
from deployer.local.cluster import LocalCluster, LocalClusterError
from deployer.local.spec import MARKER, Component
from tests.unit.local.conftest import new_state


def test_down_keeps_the_volumes_data_only_when_asked(tmp_path):
    for keep in (False, True):
        root = tmp_path / f"keep-{keep}"
        root.mkdir()  # nothing runs: a marked folder with a volume (node=False: the host is not swept)
        (root / MARKER).write_text(json.dumps({"created_folder": True}))
        (root / "volumes" / "staging" / "hub-db-dir").mkdir(parents=True)
        (root / "volumes" / "staging" / "hub-db-dir" / "jupyterhub.sqlite").write_text("users")
        (root / "etcd").mkdir()
        LocalCluster(root, tools={}, node=False).down(keep_data=keep)
        assert (root / "volumes" / "staging" / "hub-db-dir" / "jupyterhub.sqlite").is_file() is keep
        assert not (root / "etcd").exists()
        if keep:  # the kept data is not "a partial cluster": the next `up` starts normally and keeps it
            assert LocalCluster(root).status().state == "down"


def test_status_of_a_missing_folder_says_not_running(tmp_path):
    st = LocalCluster(tmp_path / "none").status()
    assert (st.state, st.message, st.hint) == ("down", "the local cluster is not running",
                                                "start it with `deployer local up`")


def test_status_never_deletes_a_folder_with_user_files(tmp_path):
    d = tmp_path / "mine"
    d.mkdir()
    (d / "precious.txt").write_text("keep")
    with pytest.raises(LocalClusterError) as e:
        LocalCluster(d).status()
    assert e.value.message == f"{d} was not created by deployer (it has no {MARKER} marker); refusing to read it"
    assert (d / "precious.txt").read_text() == "keep"


def test_down_refuses_a_folder_with_user_files_and_keeps_them(tmp_path):
    d = tmp_path / "mine"
    d.mkdir()
    (d / "precious.txt").write_text("keep")
    (d / "state.json").write_text("{}")
    with pytest.raises(LocalClusterError) as e:
        LocalCluster(d).down()
    assert e.value.message == f"{d} was not created by deployer (it has no {MARKER} marker); refusing to delete it"
    assert sorted(p.name for p in d.iterdir()) == ["precious.txt", "state.json"]


def test_up_refuses_a_folder_with_user_files(tmp_path):
    d = tmp_path / "mine"
    d.mkdir()
    (d / "notes.md").write_text("x")
    with pytest.raises(LocalClusterError) as e:
        LocalCluster(d).up()
    assert e.value.message == f"{d} was not created by deployer (it has no {MARKER} marker); refusing to use it"
    assert [p.name for p in d.iterdir()] == ["notes.md"]


def test_the_home_folder_is_refused_as_a_state_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    with pytest.raises(LocalClusterError) as e:
        LocalCluster(tmp_path / "local").down()
    assert e.value.message == (f"refusing to keep the local cluster in {tmp_path / 'local'}: its state folder "
                               f"{tmp_path} is a home or root folder")


def test_down_of_an_empty_folder_stops_nothing_and_keeps_the_folder(tmp_path):
    result = LocalCluster(tmp_path).down()
    assert result.stopped == [] and not result.was_recorded and tmp_path.is_dir()


def test_status_of_a_marked_folder_whose_processes_are_gone_is_stale_and_kept(tmp_path):
    root = tmp_path / "stale"
    root.mkdir()
    (root / MARKER).write_text("{}")
    done = ProcessRunner().run([sys.executable, "-c", "import os; print(os.getpid())"], timeout=30)
    s = new_state()
    s.components.append(Component("etcd", int(done.stdout), 1, 2379, str(root / "etcd.log")))
    (root / "state.json").write_text(s.to_json())
    st = LocalCluster(root).status()
    assert (st.state, st.hint) == ("stale", "clean up with `deployer local down`, then `deployer local up`")
    assert (root / "state.json").exists()


def run_cli(args: list[str]) -> int:
    from deployer.cli import app
    from deployer.cli.app import run_app

    return run_app(app, args)


def test_cli_status_and_down_of_a_user_folder_exit_1_with_the_message(tmp_path, capsys):
    (tmp_path / "local").mkdir()
    (tmp_path / "local" / "precious.txt").write_text("keep")
    for command in ("status", "down", "up"):
        assert run_cli(["local", command, "--state-dir", str(tmp_path)]) == 1
        verb = {"status": "read", "down": "delete", "up": "use"}[command]
        err = capsys.readouterr().err
        assert (f"{tmp_path / 'local'} was not created by deployer (it has no {MARKER} marker); "
                f"refusing to {verb} it") in err.splitlines()[0]
    assert (tmp_path / "local" / "precious.txt").read_text() == "keep"


def test_cli_status_of_a_user_folder_without_local_says_not_running(tmp_path, capsys):
    (tmp_path / "precious.txt").write_text("keep")
    assert run_cli(["local", "status", "--state-dir", str(tmp_path)]) == 1
    assert capsys.readouterr().out.splitlines()[0] == "the local cluster is not running"
    assert run_cli(["local", "down", "--state-dir", str(tmp_path)]) == 0
    assert capsys.readouterr().out.splitlines()[0] == "the local cluster was not running; nothing to stop"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["precious.txt"]


def test_a_second_up_while_one_runs_for_the_same_folder_is_refused(short_tmp):
    import fcntl
    import os as _os

    root = short_tmp / "local"
    root.mkdir()
    (root / MARKER).write_text("{}")
    fd = _os.open(root / "up.lock", _os.O_RDWR | _os.O_CREAT)
    fcntl.flock(fd, fcntl.LOCK_EX)  # as a running `deployer local up` holds it
    try:
        for action in (lambda c: c.up(), lambda c: c.down()):
            with pytest.raises(LocalClusterError) as e:
                action(LocalCluster(root, tools={}))
            assert e.value.message == f"another `deployer local up` or `down` is running for {root}"
            assert e.value.hint == "wait for it to finish, then run `deployer local status`"
    finally:
        _os.close(fd)
    assert sorted(p.name for p in root.iterdir()) == [MARKER, "up.lock"]
