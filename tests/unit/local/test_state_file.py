"""The recorded state (deployer.local.state_file): saved whole, loaded back equal; a missing or
unreadable file is no state."""

from __future__ import annotations

from deployer.local import state_file
from deployer.local.spec import Component, Layout
from tests.unit.local.conftest import new_state


def test_a_saved_state_loads_back_equal_and_leaves_no_temporary_file(tmp_path):
    lay = Layout(tmp_path)
    s = new_state(node=False, versions={"kubernetes": "1.34.4"})
    s.components.append(Component("etcd", 12, 34, 2379, "/x/etcd.log"))
    state_file.save(lay, s)
    assert state_file.load(lay) == s
    assert sorted(p.name for p in tmp_path.iterdir()) == ["state.json"]
    s.components.clear()
    state_file.save(lay, s)  # replaced whole
    assert state_file.load(lay).components == []


def test_a_missing_or_unreadable_state_file_is_no_state(tmp_path):
    lay = Layout(tmp_path)
    assert state_file.load(lay) is None
    for text in ("", "not json", "[]", '"x"', "42", "null", '{"ports": {}}', '{"ports": {}, "started_at": 0, "components": [{"x": 1}]}',
                 '{"ports": {}, "started_at": 0, "unknown": 1}'):
        lay.state_file.write_text(text)
        assert state_file.load(lay) is None, text
