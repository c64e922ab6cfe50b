import math

import pytest

from deployer.config.yamlload import MAX_FILE_BYTES, YamlProblem, decode, load_json, load_yaml


def problem(text: str, **kw) -> YamlProblem:
    with pytest.raises(YamlProblem) as info:
        load_yaml(text, **kw)
    return info.value


def test_loads_core_schema_scalars_like_ruamel():
    data = load_yaml("a: 1\nb: 1.5\nc: true\nd: ~\ne: '1'\nf: 0x1f\ng: .inf\nh: 2i2c\ni: no\n").data
    assert data == {"a": 1, "b": 1.5, "c": True, "d": None, "e": "1", "f": 31, "g": math.inf, "h": "2i2c", "i": "no"}


def test_positions_point_at_keys_and_values():
    loaded = load_yaml("hubs:\n- name: a\n  domain: x.org\n- name: b\n  domain: y.org\n")
    assert loaded.key_positions[("hubs", 1, "domain")] == (5, 3)
    assert loaded.value_positions[("hubs", 1, "domain")] == (5, 11)
    assert loaded.position(("hubs", 1, "missing")) == (4, 3)


def test_duplicate_keys_are_errors_with_both_lines():
    p = problem("a: 1\nb: 2\na: 3\n")
    assert p.code == "duplicate-key" and p.line == 3 and "first at line 1" in p.message


def test_alias_bomb_is_refused_not_expanded():
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 10):
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i-1}"] * 10) + "]")
    p = problem("\n".join(lines))
    assert p.code == "alias-bomb"


def test_small_aliases_and_merge_keys_work():
    data = load_yaml("base: &b {x: 1, y: 2}\nm:\n  <<: *b\n  y: 3\nl: [*b]\n").data
    assert data["m"] == {"x": 1, "y": 3} and data["l"] == [{"x": 1, "y": 2}]


def test_deep_nesting_is_refused():
    assert problem("[" * 5000 + "]" * 5000).code == "too-deep"


def test_syntax_error_has_line_and_column_and_no_content():
    p = problem("a: 1\nb: [unclosed\nc: s3cr3t-value\n")
    assert p.code == "yaml-syntax" and p.line >= 2 and "s3cr3t" not in p.message


def test_more_than_one_document_is_refused():
    assert problem("a: 1\n---\nb: 2\n").code == "multi-document"


def test_unknown_tag_is_refused():
    assert problem("a: !python/object:os.system ls\n").code == "yaml-tag"


def test_empty_document_is_none():
    assert load_yaml("").data is None
    assert load_yaml("# only a comment\n").data is None


def test_decode_refuses_binary_and_non_utf8_and_huge_files():
    with pytest.raises(YamlProblem) as info:
        decode(b"a: 1\n\x00\x01")
    assert info.value.code == "not-text" and info.value.line == 2
    with pytest.raises(YamlProblem) as info:
        decode(b"a: 1\nb: \xff\xfe\n")
    assert info.value.code == "not-utf8" and (info.value.line, info.value.column) == (2, 4)
    with pytest.raises(YamlProblem) as info:
        decode(b"#" * (MAX_FILE_BYTES + 1))
    assert info.value.code == "file-too-large"


def test_json_duplicates_and_syntax():
    assert load_json('{"a": 1}').data == {"a": 1}
    with pytest.raises(YamlProblem):
        load_json('{"a": 1, "a": 2}')
    with pytest.raises(YamlProblem) as info:
        load_json('{"a": }')
    assert info.value.line == 1


def test_a_wrongly_tagged_value_is_refused_without_quoting_it():
    # a kubeconfig's token under a wrong tag: the message must not carry the token
    with pytest.raises(YamlProblem) as e:
        load_yaml("users:\n- user:\n    token: !!int kubeTOKENvalue123\n")
    assert (e.value.message, e.value.line, e.value.code) == ("the value tagged !!int is not a valid int", 3, "yaml-tag")
    assert "kubeTOKENvalue123" not in f"{e.value.message} {e.value.hint}"
