"""Per-item eval metrics on hand-made cases; expected numbers are worked out by hand in comments."""

import pytest
from jsonschema.exceptions import SchemaError

from gristmill.evals import metrics as m


@pytest.mark.parametrize("text, want", [
    ("The  Cat's   hat!", "cats hat"),
    ("an apple a day", "apple day"),
    ("another theme", "another theme"),  # articles only as whole words
    ("ＡＢＣ ﬁne", "abc fine"),  # NFKC: full-width letters, the fi ligature
    ("Straße", "strasse"),  # casefold, not lower
    ("“quoted”—dash, ¡sí!", "quoteddash sí"),  # Unicode punctuation goes too
    ("price: $5 + tax 🙂", "price 5 tax 🙂"),  # ASCII symbols go (as in SQuAD), emoji stay
    ("  \n\t ", ""),
])
def test_normalize(text, want):
    assert m.normalize(text) == want


def test_exact_and_normalized():
    assert m.exact(" Paris \n", "Paris") == 1.0
    assert m.exact("paris", "Paris") == 0.0
    assert m.exact("", "") == 1.0
    assert m.exact("x", None) is None
    assert m.normalized("The Paris.", "paris") == 1.0
    assert m.normalized("Paris, France", "paris") == 0.0
    assert m.normalized("anything", None) is None


def test_contains_whole_words_after_normalizing():
    out = "The capital is PARIS; the river is the Seine."
    assert m.contains(out, ["paris", "seine"]) == 1.0
    assert m.contains(out, ["paris", "lyon"]) == 0.0
    assert m.contains(out, ["paris", "lyon"], require_all=False) == 1.0
    assert m.contains(out, ["lyon", "rhone"], require_all=False) == 0.0
    assert m.contains(out, ["capital is paris"]) == 1.0
    assert m.contains("concatenate", ["cat"]) == 0.0
    assert m.contains(out, []) is None


def test_regex_compiles_each_pattern_once():
    m._compiled.cache_clear()
    assert m.regex("Answer: YES", r"(?i)\byes\b") == 1.0
    assert m.regex("Answer: yesterday", r"(?i)\byes\b") == 0.0
    assert m.regex("", r"^$") == 1.0
    info = m._compiled.cache_info()
    assert (info.misses, info.hits) == (2, 1)


def test_token_f1():
    # "cat sat on mat" vs "cat on mat": 3 shared, P = 3/4, R = 1, F = 2 * 3/4 / (7/4) = 6/7
    assert m.token_f1("The cat sat on the mat.", "a cat on a mat") == pytest.approx(6 / 7)
    # multisets: x x y vs x y y share one x and one y: P = R = 2/3
    assert m.token_f1("x x y", "x y y") == pytest.approx(2 / 3)
    assert m.token_f1("dog", "cat") == 0.0
    assert m.token_f1("", "") == 1.0
    assert m.token_f1("the", "!") == 1.0  # both normalize to nothing
    assert m.token_f1("", "cat") == 0.0
    assert m.token_f1("cat", "") == 0.0
    assert m.token_f1("cat", None) is None


def test_rouge_l():
    # LCS of a b c d / a c d e is a c d: 2 * 3 / (4 + 4)
    assert m.rouge_l("a b c d", "A, c d e") == pytest.approx(0.75)
    assert m.rouge_l("same words", "same words") == 1.0
    assert m.rouge_l("", "words") == 0.0
    assert m.rouge_l("你好", "你好") == 1.0  # no [a-z0-9] tokens: fall back to normalized equality
    assert m.rouge_l("你好", "再见") == 0.0
    assert m.rouge_l("x", None) is None


@pytest.mark.parametrize("output, value", [
    ('{"a": [1, 2.5, null, true]}', {"a": [1, 2.5, None, True]}),
    ('  "text"\n', "text"),
    ('```json\n{"a": 1}\n```', {"a": 1}),
    ('```JSON\n{"a": 1}\n```\n', {"a": 1}),
    ("```\n[1, 2]\n```", [1, 2]),
    ('\n```json  \n  {"a": "é"}  \n```  ', {"a": "é"}),
])
def test_parse_json_accepts(output, value):
    assert m.parse_json(output) == (value, None)
    assert m.json_valid(output) == 1.0


@pytest.mark.parametrize("output, problem", [
    ("", "empty output"),
    ("```json\n\n```", "empty output"),
    ("{'a': 1}", "not JSON: Expecting property name enclosed in double quotes at line 1 column 2"),
    ("NaN", "not JSON: NaN is not JSON"),
    ('{"a": Infinity}', "not JSON: Infinity is not JSON"),
    ('{"a": 1} trailing', "not JSON: Extra data at line 1 column 10"),
    # a fence that does not wrap the whole output is left alone
    ('Here you go:\n```json\n{"a": 1}\n```', "not JSON: Expecting value at line 1 column 1"),
    ('```json\n{"a": 1}\n```\n```json\n{"b": 2}\n```', "not JSON: Extra data at line 2 column 1"),
])
def test_parse_json_rejects(output, problem):
    assert m.parse_json(output) == (None, problem)
    assert m.json_valid(output) == 0.0


SCHEMA = {"type": "object", "required": ["name", "age"],
          "properties": {"name": {"type": "string"}, "age": {"type": "integer", "minimum": 0}}}


def test_json_schema():
    assert m.json_schema('{"name": "Ada", "age": 36}', SCHEMA) == 1.0
    assert m.json_schema('```json\n{"name": "Ada", "age": 36, "x": 1}\n```', SCHEMA) == 1.0
    assert m.json_schema('{"name": "Ada"}', SCHEMA) == 0.0  # missing required
    assert m.json_schema('{"name": "Ada", "age": -1}', SCHEMA) == 0.0  # below minimum
    assert m.json_schema('{"name": "Ada", "age": "36"}', SCHEMA) == 0.0  # wrong type
    assert m.json_schema('{"name": "Ada", age: 36}', SCHEMA) == 0.0  # not JSON
    # 2020-12 by default: prefixItems is a 2020-12 keyword
    assert m.json_schema("[1, 2]", {"prefixItems": [{"type": "string"}]}) == 0.0


def test_json_schema_builds_one_validator_per_schema():
    m._validator.cache_clear()
    reordered = {"properties": SCHEMA["properties"], "required": ["name", "age"], "type": "object"}
    for schema in (SCHEMA, reordered, SCHEMA):
        m.json_schema('{"name": "Ada", "age": 36}', schema)
    assert m._validator.cache_info().misses == 1
    with pytest.raises(SchemaError):
        m.json_schema("{}", {"type": "no-such-type"})


def test_field_accuracy():
    ref = {"name": "Ada Lovelace", "year": 1815, "alive": False}
    # name matches normalized, year matches, alive: 0 is not false -> 2 of 3
    got = m.field_accuracy('{"name": "ada lovelace.", "year": 1815, "alive": 0}', ref)
    assert got == pytest.approx(2 / 3)
    assert m.field_accuracy('{"name": "Ada Lovelace", "year": 1815.0, "alive": false}', ref) == 1.0
    assert m.field_accuracy('{"name": "Ada Lovelace"}', ref) == pytest.approx(1 / 3)  # missing fields
    assert m.field_accuracy('{"name": "Ada Lovelace"}', ref, ["name", "year"]) == 0.5
    assert m.field_accuracy('{"name": "Ada Lovelace"}', ref, ["name", "not_in_ref"]) == 1.0
    assert m.field_accuracy('{"name": "Ada Lovelace"}', ref, ["not_in_ref"]) is None
    assert m.field_accuracy('["Ada Lovelace", 1815]', ref) == 0.0  # not an object
    assert m.field_accuracy("name: Ada", ref) == 0.0
    assert m.field_accuracy('{"tags": ["A", "b"]}', {"tags": ["a", "b"]}) == 0.0  # == below the top level
    assert m.field_accuracy("{}", {}) is None
    assert m.field_accuracy("{}", None) is None


LABELS = ["positive", "negative", "neutral"]


@pytest.mark.parametrize("output, want", [
    ("Positive.", "positive"),
    ("  NEGATIVE!", "negative"),
    ("The sentiment is negative, not positive.", "negative"),  # first to appear
    ("I'd say neutral (or positive)", "neutral"),
    ("nonpositive", None),  # whole words only
    ("non-positive", None),  # the hyphen goes, leaving one word
    ("positively", None),
    ("no idea", None),
    ("", None),
])
def test_label_of(output, want):
    assert m.label_of(output, LABELS) == want


def test_label_of_prefers_the_longer_label_at_the_same_place():
    assert m.label_of("Yes but only partly", ["yes", "yes but"]) == "yes but"
    assert m.label_of("Yes, clearly", ["yes", "yes but"]) == "yes"
    assert m.label_of("the answer", ["The", "answer"]) == "answer"  # a label that normalizes away


def test_registry():
    assert set(m.PER_ITEM) == {"exact", "normalized", "contains", "regex", "token_f1", "rouge_l",
                               "json_valid", "json_schema", "field_accuracy", "accuracy"}
    accuracy = m.PER_ITEM["accuracy"]
    assert accuracy("Sentiment: Positive", "positive", LABELS) == 1.0
    assert accuracy("Sentiment: Positive", "Negative", LABELS) == 0.0
    assert accuracy("unclear", "neutral", LABELS) == 0.0
    assert accuracy("positive", None, LABELS) is None


def test_classification_summary_by_hand():
    expected = ["a", "a", "a", "b", "b", "c", "c", "c"]
    predicted = ["a", "a", "b", "b", None, "c", "a", "c"]
    # rows expected a, b, c; columns a, b, c, (none)
    confusion = [[2, 1, 0, 0],
                 [0, 1, 0, 1],
                 [1, 0, 2, 0]]
    # a: P 2/3 R 2/3 F 2/3; b: P 1/2 R 1/2 F 1/2; c: P 1 R 2/3 F 4/5
    out = m.classification_summary(predicted, expected, ["a", "b", "c"])
    assert out["labels"] == ["a", "b", "c", "(none)"]
    assert out["confusion"] == [*confusion, [0, 0, 0, 0]]
    assert out["accuracy"] == pytest.approx(5 / 8)
    assert out["macro_f1"] == pytest.approx((2 / 3 + 1 / 2 + 4 / 5) / 3)
    assert out["n"] == 8


def test_classification_summary_edges():
    # "c" occurs nowhere, so it does not drag macro-F1 down; no None, so no "(none)" column
    out = m.classification_summary(["a", "b"], ["a", "a"], ["a", "b", "c"])
    assert out["labels"] == ["a", "b", "c"]
    assert out["confusion"] == [[1, 1, 0], [0, 0, 0], [0, 0, 0]]
    assert out["macro_f1"] == pytest.approx((2 / 3 + 0) / 2)  # a: P 1 R 1/2; b: P 0
    one = m.classification_summary(["a", "a"], ["a", "a"], ["a"])
    assert (one["confusion"], one["accuracy"], one["macro_f1"]) == ([[2]], 1.0, 1.0)
    empty = m.classification_summary([], [], ["a", "b"])
    assert (empty["accuracy"], empty["confusion"]) == (None, [[0, 0], [0, 0]])
    with pytest.raises(ValueError, match=r"labels not in \['a', 'b'\]: \['z'\]"):
        m.classification_summary(["a"], ["z"], ["a", "b"])
    with pytest.raises(ValueError, match="2 predictions for 1 expected labels"):
        m.classification_summary(["a", "b"], ["a"], ["a", "b"])
