import pandas as pd
import pytest

from ovmlr.data.modality_sets import check_modality_sets, draw_modality_sets, modality_frame

SEEN = ["a", "b", "c", "d", "e", "f", "g"]


def test_drawn_sets_share_a_core_and_cover_the_seen_set():
    sets = draw_modality_sets(SEEN, ["image", "text"], overlap=0.3, seed=1)
    shared = set(sets["image"]) & set(sets["text"])
    assert len(shared) == 2  # round(0.3 * 7)
    assert set(sets["image"]) | set(sets["text"]) == set(SEEN)
    assert len(sets["image"]) + len(sets["text"]) == 7 + 2
    assert sets == draw_modality_sets(SEEN, ["image", "text"], overlap=0.3, seed=1)
    check_modality_sets(sets, SEEN, ["x"])


def test_full_overlap_gives_every_modality_the_whole_seen_set():
    sets = draw_modality_sets(SEEN, ["image", "text", "audio"], overlap=1.0, seed=0)
    assert all(sorted(names) == SEEN for names in sets.values())
    with pytest.raises(ValueError, match=r"overlap must be in \[0, 1\], got 1.5"):
        draw_modality_sets(SEEN, ["image", "text"], overlap=1.5, seed=0)


@pytest.mark.parametrize(
    ("sets", "message"),
    [
        ({"image": SEEN}, r"need at least two modalities, got \['image'\]"),
        ({"image": SEEN, "text": []}, "modality 'text' has an empty category set"),
        (
            {"image": SEEN, "text": ["x"]},
            "category 'x' of modality 'text' is unseen: it cannot be trained on",
        ),
        ({"image": SEEN, "text": ["zebra"]}, "category 'zebra' of modality 'text' is not in the dataset"),
        ({"image": SEEN[:3], "text": SEEN[2:5]}, r"seen categories \['f', 'g'\] are in no modality's set"),
        ({"image": SEEN, "text": ["a", "a"]}, "modality 'text' lists a category more than once"),
    ],
)
def test_invalid_sets_are_rejected(sets, message):
    with pytest.raises(ValueError, match=message):
        check_modality_sets(sets, SEEN, ["x"])


def test_frame_lists_categories_in_split_order():
    split = pd.DataFrame(
        {"category_id": [0, 1, 2], "name": ["b", "a", "c"], "role": ["seen", "seen", "unseen"]}
    )
    frame = modality_frame({"image": ["a", "b"], "text": ["a"]}, split)
    assert frame.values.tolist() == [["image", 0, "b"], ["image", 1, "a"], ["text", 1, "a"]]
