from ovmlr.data.tagged_art.vocabulary import (
    clean_item_tags,
    frequent_tags,
    merge_cooccurring,
    normalise_tag,
    plural_merges,
)


def test_normalise_lowercases_joins_underscores_and_strips_punctuation():
    assert normalise_tag("North_America") == "north america"
    assert normalise_tag("  Stars!! ") == "stars"
    assert normalise_tag("o’clock") == "o'clock"


def test_plurals_merge_only_when_the_singular_is_used():
    merges = plural_merges(["star", "stars", "flowers", "berry", "berries", "glass", "boxes", "box"])
    assert merges == {"stars": "star", "berries": "berry", "boxes": "box"}


def test_clean_drops_meta_digits_short_tags_and_authors_and_says_why():
    items, reasons = clean_item_tags(
        [["Stars", "hash", "11", "ok"], ["star", "Jane Doe", "Cat"]],
        stop_tags=["HASH"],
        creators=["Jane Doe"],
        min_length=3,
    )
    assert items == [frozenset({"star"}), frozenset({"star", "cat"})]
    assert reasons["hash"] == "meta tag (stop_tags)"
    assert reasons["11"] == "contains a digit"
    assert reasons["ok"] == "shorter than 3 letters"
    assert reasons["jane doe"] == "an author's name"
    assert reasons["stars"] == "merged into 'star'"


def test_frequent_tags_and_always_cooccurring_tags_merge():
    items = [frozenset({"gun", "bullet", "star"}), frozenset({"gun", "bullet"}), frozenset({"star"})]
    assert frequent_tags(items, 2) == {"gun": 2, "bullet": 2, "star": 2}
    assert merge_cooccurring(items, ["gun", "bullet", "star"]) == {"bullet": "gun"}
