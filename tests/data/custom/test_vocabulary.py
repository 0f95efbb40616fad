"""The custom tag vocabulary filter: normalisation, stop tags, plurals, min_count, and its report."""

import pytest

from ovmlr.data.custom.vocabulary import TagFilter, filter_vocabulary

RAW = [
    ("Dog", "cats", "untagged"),
    ("dog_", "cat"),
    ("DOG", "Cat", "x"),
    ("cat", "  "),
]


def test_the_filter_normalises_merges_and_reports_what_it_dropped():
    names, images, report = filter_vocabulary(RAW, TagFilter(stop_tags=("Untagged",), min_count=2), "t.csv")
    assert names == ["cat", "dog"]
    assert images == [
        frozenset({"dog", "cat"}),
        frozenset({"dog", "cat"}),
        frozenset({"dog", "cat"}),
        frozenset({"cat"}),
    ]
    reasons = dict(zip(report["tag"], report["reason"], strict=True))
    assert reasons == {
        "Dog": "normalised to 'dog'",
        "dog_": "normalised to 'dog'",
        "DOG": "normalised to 'dog'",
        "cats": "plural merged into 'cat'",
        "Cat": "normalised to 'cat'",
        "untagged": "stop tag (stop_tags)",
        "x": "on 1 image(s), fewer than min_count 2",
        "  ": "empty after normalisation",
    }
    assert dict(zip(report["tag"], report["items"], strict=True))["Dog"] == 1


def test_without_normalisation_spellings_stay_apart():
    names, _, _ = filter_vocabulary(
        RAW, TagFilter(normalise=False, merge_plurals=False, min_count=1), "t.csv"
    )
    assert names == ["Cat", "DOG", "Dog", "cat", "cats", "dog_", "untagged", "x"]


def test_an_empty_vocabulary_names_the_file_and_the_most_frequent_tags():
    with pytest.raises(
        ValueError, match=r"t.csv: the tag vocabulary is empty after filtering \(min_count 9.*'cat' \(4\)"
    ):
        filter_vocabulary(RAW, TagFilter(min_count=9), "t.csv")


def test_min_count_must_be_positive():
    with pytest.raises(ValueError, match="min_count must be at least 1"):
        TagFilter(min_count=0)
