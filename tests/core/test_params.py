"""The one unknown-keys check and run fingerprints."""

from __future__ import annotations

import numpy as np
import pytest

from ovmlr.core.params import fingerprint, known_fields


def test_known_fields_returns_a_copy_and_accepts_none():
    params = {"a": 1}
    values = known_fields(params, ("a", "b"), "stage.section")
    assert values == params and values is not params
    assert known_fields(None, ("a",), "stage.section") == {}


def test_unknown_keys_are_named_with_the_section_and_what_it_knows():
    with pytest.raises(
        ValueError, match=r"unknown stage.section parameter\(s\) \['c'\]; known: \['a', 'b'\]"
    ):
        known_fields({"a": 1, "c": 2}, ("a", "b"), "stage.section")


def test_fingerprints_are_stable_and_change_with_any_part():
    base = fingerprint({"x": 1}, np.arange(3))
    assert base == fingerprint({"x": 1}, np.arange(3)) and len(base) == 16
    assert base != fingerprint({"x": 2}, np.arange(3))
    assert base != fingerprint({"x": 1}, np.arange(4))
