"""Rendered manifests against the live release (pure: deployer.plan.diff): unified diffs per
object, key order ignored, Secrets compared but never shown."""

from __future__ import annotations

import base64

from deployer.plan.diff import HIDDEN, HIDDEN_CHANGED, diff_manifests, mask_secret, secret_values, summary


def cm(name="hub", data=None, ns=None):
    meta = {"name": name, **({"namespace": ns} if ns else {})}
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": data or {"a": "1"}}


def secret(data=None, string_data=None, name="hub"):
    doc = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name}, "type": "Opaque"}
    if data is not None:
        doc["data"] = {k: base64.b64encode(v.encode()).decode() for k, v in data.items()}
    if string_data is not None:
        doc["stringData"] = string_data
    return doc


def test_identical_manifests_in_another_key_order_have_no_changes():
    live = [{"kind": "ConfigMap", "apiVersion": "v1", "data": {"b": "2", "a": "1"}, "metadata": {"name": "hub"}}]
    assert diff_manifests(live, [cm(data={"a": "1", "b": "2"})], "ns") == []
    assert summary([]) == "no changes"


def test_a_changed_value_is_a_unified_diff_of_that_object():
    (c,) = diff_manifests([cm(data={"a": "1"})], [cm(data={"a": "2"})], "ns")
    assert c.change == "changed" and c.key == "ConfigMap ns/hub"
    assert "--- live: ConfigMap ns/hub" in c.diff and "+++ rendered: ConfigMap ns/hub" in c.diff
    assert "-  a: '1'" in c.diff and "+  a: '2'" in c.diff


def test_added_and_removed_objects():
    changes = diff_manifests([cm("old")], [cm("new")], "ns")
    assert [(c.key, c.change) for c in changes] == [("ConfigMap ns/new", "added"), ("ConfigMap ns/old", "removed")]
    assert changes[0].diff.startswith("--- /dev/null") and "+++ /dev/null" in changes[1].diff
    assert summary(changes) == "1 added, 1 removed"


def test_objects_match_by_kind_namespace_and_name_with_the_release_namespace_as_default():
    (c,) = diff_manifests([cm(ns="ns")], [cm()], "ns")  # the same object (not one added, one removed)
    assert c.change == "changed" and c.key == "ConfigMap ns/hub" and "-  namespace: ns" in c.diff


def test_an_unchanged_secret_is_not_a_change_even_between_data_and_stringData():
    assert diff_manifests([secret({"token": "s3cr3t-value"})], [secret(string_data={"token": "s3cr3t-value"})], "ns") == []


def test_a_changed_secret_says_which_key_changed_never_the_values():
    live = secret({"token": "old-s3cret-value", "same": "unchanged-s3cret", "gone": "removed-s3cret"})
    new = secret({"token": "new-s3cret-value", "same": "unchanged-s3cret", "added": "added-s3cret"})
    (c,) = diff_manifests([live], [new], "ns")
    assert c.secret and c.change == "changed"
    assert f"-  token: {HIDDEN}" in c.diff and f"+  token: {HIDDEN_CHANGED}" in c.diff
    assert f"+  added: {HIDDEN}" in c.diff and f"-  gone: {HIDDEN}" in c.diff
    assert f"   same: {HIDDEN}" in c.diff  # unchanged keys appear as context, unmarked
    for value in ("old-s3cret-value", "new-s3cret-value", "unchanged-s3cret", "removed-s3cret", "added-s3cret"):
        assert value not in c.diff
        assert base64.b64encode(value.encode()).decode() not in c.diff


def test_added_secret_shows_keys_only():
    (c,) = diff_manifests([], [secret(string_data={"password": "hunter2-hunter2"})], "ns")
    assert c.change == "added" and f"+  password: {HIDDEN}" in c.diff and "hunter2" not in c.diff


def test_secret_metadata_changes_are_shown_but_not_data():
    live, new = secret({"k": "v-s3cret"}), secret({"k": "v-s3cret"})
    new["metadata"]["labels"] = {"team": "a"}
    (c,) = diff_manifests([live], [new], "ns")
    assert "+    team: a" in c.diff and "v-s3cret" not in c.diff


def test_mask_secret_and_values():
    doc = secret({"a": "x-s3cret"}, {"b": "y-s3cret"})
    assert secret_values(doc) == {"a": b"x-s3cret", "b": b"y-s3cret"}
    masked = mask_secret(doc)
    assert masked["data"] == {"a": HIDDEN, "b": HIDDEN} and "stringData" not in masked
