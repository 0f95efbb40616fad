"""Caption bank and the positives mask: a caption describes every canvas showing what it names."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ovmlr.backbones.captions import build_caption_bank, canvas_tags, caption_positives, tag_phrase
from ovmlr.data.mosaic import BLANK


def _rows() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "tags": ["animal|cat", "animal|dog", "car", ""],
            "title": ["", "Good dog", "", "A kettle"],
            "class_name": ["animal, cat", "animal, dog", "car", "<i3>"],
        }
    )


def test_tag_phrases():
    assert tag_phrase(["a"]) == "a" and tag_phrase(["a", "b", "c"]) == "a, b and c"


def test_captions_name_all_or_some_tags_or_the_title():
    bank = build_caption_bank(_rows(), ["x {}."], 3, "tags", np.random.default_rng(0))
    assert bank.vocabulary == ("animal", "car", "cat", "dog")
    assert bank.of_item.shape == (4, 3)
    assert bank.texts[0] in {"x animal and cat.", "x cat and animal."}  # caption 0: all tags
    assert bank.named[0].tolist() == [True, False, True, False]
    assert bank.texts[5] == "x good dog." and bank.title_of[5] == 1 and not bank.named[5].any()
    assert [bank.texts[j] for j in bank.of_item[3]] == ["x a kettle."] * 3  # no tag: the title only
    assert (bank.title_of[bank.of_item[2]] == -1).all()  # no title: tags only


def test_class_name_captions_are_template_major_and_shared_by_a_class():
    rows = pd.DataFrame({"class_name": ["coat", "bag", "coat"], "title": ""})
    bank = build_caption_bank(rows, ["a {}.", "the {}."], 1, "class_name", np.random.default_rng(0))
    assert bank.texts == ("a bag.", "a coat.", "the bag.", "the coat.")
    assert bank.of_item.tolist() == [[1, 3], [0, 2], [1, 3]]


def test_positives_on_a_hand_made_batch():
    bank = build_caption_bank(_rows(), ["{}"], 1, "tags", np.random.default_rng(0))
    # canvases: 0 = cat + car, 1 = dog, 2 = kettle + dog; captions: cat's, dog's, kettle's (title)
    layout = np.array([[0, 2, BLANK, BLANK], [1, BLANK, BLANK, BLANK], [3, BLANK, 1, BLANK]])
    captions = bank.of_item[[0, 1, 3], 0]
    positives = caption_positives(bank, captions, layout)
    # "animal and cat": canvas 0 only; "animal and dog": canvases 1 and 2; "a kettle": canvas 2
    assert positives.tolist() == [[True, False, False], [False, True, False], [False, True, True]]
    assert canvas_tags(layout, bank.item_tags)[2].tolist() == [True, False, False, True]


def test_a_subset_caption_is_a_positive_of_every_canvas_with_that_tag():
    rows = pd.DataFrame({"tags": ["animal|cat", "animal|dog"], "title": ["", ""], "class_name": ["", ""]})
    bank = build_caption_bank(rows, ["{}"], 1, "tags", np.random.default_rng(0))
    animal = len(bank.texts)  # a caption naming only "animal", appended by hand
    named = np.vstack([bank.named, [[True, False, False]]])
    bank = type(bank)(
        (*bank.texts, "animal"),
        named,
        np.append(bank.title_of, -1),
        bank.of_item,
        bank.item_tags,
        bank.vocabulary,
    )
    layout = np.array([[0, BLANK, BLANK, BLANK], [1, BLANK, BLANK, BLANK]])
    positives = caption_positives(bank, np.array([0, animal]), layout)
    assert positives[:, 1].tolist() == [True, True]  # "animal" describes the dog's canvas too
    assert positives[:, 0].tolist() == [True, False]


def test_bad_modes_are_refused():
    with pytest.raises(ValueError, match="captions must be one of"):
        build_caption_bank(_rows(), ["{}"], 1, "words", np.random.default_rng(0))
    with pytest.raises(ValueError, match="captions_per_item must be >= 1"):
        build_caption_bank(_rows(), ["{}"], 0, "tags", np.random.default_rng(0))
