"""The fast canonical JSON path writes byte-for-byte what the RFC 8785 reference implementation writes."""

from __future__ import annotations

import json

import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

from bindaas.crypto.canonical import canonical_json
from tests.helpers import synthea_bundles

values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53) + 1, 2**53 - 1) | st.text()
    | st.floats(allow_nan=False, allow_infinity=False).filter(lambda f: abs(f) < 2**53 or not f.is_integer()),
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=6), children, max_size=5),
    max_leaves=30,
)


@settings(max_examples=400, deadline=None)
@given(values)
def test_fast_path_matches_the_reference(value):
    try:
        expected = rfc8785.dumps(value)
    except rfc8785.CanonicalizationError:
        return
    assert canonical_json(value) == expected


def test_real_fhir_bundles_match_the_reference():
    from bindaas.fhir.datasets import dataset_bundles

    for bundle in [*synthea_bundles(), *dataset_bundles("framingham", limit=20), *dataset_bundles("uci-heart",
                                                                                                   limit=20)]:
        assert canonical_json(bundle) == rfc8785.dumps(bundle)
        assert canonical_json(json.loads(canonical_json(bundle))) == canonical_json(bundle)


@settings(max_examples=400, deadline=None)
@given(st.lists(st.floats(allow_nan=False, allow_infinity=False).filter(lambda f: abs(f) < 2**53) | st.integers(
    -(2**53) + 1, 2**53 - 1) | st.sampled_from(["5.0,", "1e5", "12345678901234567", "ü", ":7.0}", '":8.0]', 'a\\', '\\":9.0,', "5e8ec47c",
                     "-0.0"]), max_size=8))
def test_numbers_and_look_alike_strings_take_the_exact_path_when_they_must(value):
    """The fast path passes orjson's output through only when nothing in it could differ from RFC 8785; integral
    floats, exponents, long digit runs and non-ASCII (or strings that look like them) take the exact path."""
    for candidate in (value, {"v": value}, *value):
        assert canonical_json(candidate) == rfc8785.dumps(candidate)
