"""A path in nested values (deployer.plan.values_path)."""

from deployer.plan.values_path import dig, put


def test_dig_reads_a_path_and_gives_none_where_it_stops():
    values = {"a": {"b": {"c": 1}}, "s": "text"}
    assert dig(values, ("a", "b", "c")) == 1
    assert dig(values, ("a", "b")) == {"c": 1}
    assert dig(values, ("a", "x", "c")) is None
    assert dig(values, ("s", "c")) is None  # a step that is no mapping
    assert dig(None, ("a",)) is None
    assert dig(values, ()) is values


def test_put_sets_a_path_making_the_mappings_on_the_way_and_keeps_the_rest():
    values = {"a": {"keep": 1}}
    put(values, ("a", "b", "c"), 2)
    put(values, ("top",), None)
    assert values == {"a": {"keep": 1, "b": {"c": 2}}, "top": None}
