"""Matching written category names against the listed ones."""

from __future__ import annotations

import pytest

from ovmlr.llm.names import NameMatcher, loose_key, singular

LISTED = ["t-shirt", "ankle boot", "glass", "glasses", "berry", "Ball (Object)", "dress"]


@pytest.mark.parametrize(
    ("written", "expected"),
    [
        ("t-shirt", "t-shirt"),
        ("T-Shirt", "t-shirt"),
        ("  **T-shirts**. ", "t-shirt"),
        ("T shirt", "t-shirt"),
        ('"Ankle   Boots"', "ankle boot"),
        ("the dress", "dress"),
        ("berries", "berry"),
        ("Ball (object)", "Ball (Object)"),
        ("glasses", "glasses"),  # exact beats the plural rule
        ("glass", "glass"),
        ("dresses", "dress"),
        ("shirt", None),
        ("boots", None),
        ("", None),
    ],
)
def test_match(written, expected):
    assert NameMatcher(LISTED).match(written) == expected


def test_an_ambiguous_key_matches_nothing():
    matcher = NameMatcher(["t-shirt", "T Shirt"])
    assert matcher.match("T-SHIRT") == "t-shirt"
    assert matcher.match("t shirt") == "T Shirt"
    assert matcher.match("tshirts") is None  # loose key "tshirt" belongs to both


@pytest.mark.parametrize(
    ("word", "expected"),
    [
        ("boots", "boot"),
        ("berries", "berry"),
        ("boxes", "box"),
        ("dress", "dress"),
        ("bus", "bus"),
        ("cars", "car"),
    ],
)
def test_singular(word, expected):
    assert singular(word) == expected


def test_loose_key_ignores_case_punctuation_and_plurals():
    assert loose_key("T-Shirts/Tops") == loose_key("t shirt top") == "tshirttop"
