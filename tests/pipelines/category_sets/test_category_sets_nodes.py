import pandas as pd
import pytest

from ovmlr.pipelines.category_sets.nodes import (
    build_modality_category_sets,
    split_categories,
    split_labels,
    summarise_categories,
)

NAMES = ["cat", "dog", "tree", "kite"]
CATEGORIES = pd.DataFrame(
    {"category_id": range(4), "name": NAMES, "dataset_role": ["seen", "seen", "seen", "unseen"]}
)
MANIFEST = pd.DataFrame(
    {
        "image_id": ["t1", "t2", "t3", "v1", "s1"],
        "path": "x.png",
        "split": ["train", "train", "train", "val", "test"],
    }
)
LABELS = pd.DataFrame(
    {
        "image_id": ["t1", "t2", "t3", "v1", "s1"],
        "cat": [1, 1, 1, 0, 1],
        "dog": [0, 1, 0, 1, 0],
        "tree": [1, 1, 0, 0, 1],
        "kite": [0, 0, 0, 1, 1],
    }
).astype({n: "int8" for n in NAMES})


def split(strategy, **overrides):
    options = {"unseen_names": [], "num_unseen": 1, "frequency_order": "rarest", "seed": 0} | overrides
    return split_categories(
        CATEGORIES,
        LABELS,
        MANIFEST,
        overrides.pop("file_names", []),
        strategy,
        options["unseen_names"],
        options["num_unseen"],
        options["frequency_order"],
        options["seed"],
    )


def unseen(frame):
    return frame.loc[frame["role"] == "unseen", "name"].tolist()


def test_each_strategy():
    assert unseen(split("dataset")) == ["kite"]
    assert unseen(split("file", unseen_names=["dog", "tree"])) == ["dog", "tree"]
    assert unseen(split("file", file_names=["cat"])) == ["cat"]
    # train positives: cat 3, dog 1, tree 2, kite 0
    assert unseen(split("frequency", num_unseen=2)) == ["dog", "kite"]
    assert unseen(split("frequency", num_unseen=1, frequency_order="most_frequent")) == ["cat"]
    random_pick = unseen(split("random", num_unseen=2, seed=4))
    assert len(random_pick) == 2 and random_pick == unseen(split("random", num_unseen=2, seed=4))


def test_unknown_strategy_and_unknown_name_are_errors():
    with pytest.raises(
        ValueError,
        match=r"strategy must be one of \[.*'random', 'stratified'\], got 'lesa'",
    ):
        split("lesa")
    with pytest.raises(ValueError, match="unseen category 'giraffe' is not in the dataset's categories"):
        split("file", unseen_names=["giraffe"])
    with pytest.raises(ValueError, match="the unseen category set is empty"):
        split("file")


def test_split_labels_hides_unseen_columns_from_train():
    train, val, test = split_labels(LABELS, MANIFEST, split("file", unseen_names=["dog"]))
    assert train.columns.tolist() == ["image_id", "cat", "tree", "kite"]
    assert train["image_id"].tolist() == ["t1", "t2", "t3"]
    assert val.columns.tolist() == ["image_id", "cat", "tree", "kite", "dog"]
    assert test.values.tolist() == [["s1", 1, 1, 1, 0]]
    assert (train.dtypes.iloc[1:] == "int8").all()


def test_split_labels_rejects_misaligned_inputs():
    with pytest.raises(ValueError, match="labels: category columns differ from category_split"):
        split_labels(LABELS[["image_id", "dog", "cat", "tree", "kite"]], MANIFEST, split("dataset"))
    with pytest.raises(ValueError, match="labels: image 's1' is not in image_manifest"):
        split_labels(LABELS, MANIFEST.iloc[:4], split("dataset"))


def test_summary_flags_an_unseen_category_without_test_positive():
    labels = LABELS.assign(kite=[0, 0, 0, 1, 0]).astype({"kite": "int8"})
    summary = summarise_categories(labels, MANIFEST, split("dataset"))
    assert summary.set_index("name").loc["kite", ["val_positives", "test_positives"]].tolist() == [1, 0]
    assert summary.set_index("name").at["kite", "warning"].startswith("no positive test image")


def test_modality_sets_disabled_explicit_and_drawn():
    category_split = split("dataset")
    disabled = build_modality_category_sets(category_split, False, ["image", "text"], {}, 0.5, 0)
    assert disabled.empty and disabled.columns.tolist() == ["modality", "category_id", "name"]
    explicit = build_modality_category_sets(
        category_split, True, ["image", "text"], {"image": ["cat", "dog"], "text": ["dog", "tree"]}, 0.0, 0
    )
    assert explicit.values.tolist() == [
        ["image", 0, "cat"],
        ["image", 1, "dog"],
        ["text", 1, "dog"],
        ["text", 2, "tree"],
    ]
    drawn = build_modality_category_sets(category_split, True, ["image", "text"], {}, 0.0, 3)
    assert sorted(drawn["name"]) == ["cat", "dog", "tree"] and drawn["modality"].nunique() == 2


def test_modality_sets_must_match_the_modalities_and_exclude_unseen():
    category_split = split("dataset")
    with pytest.raises(
        ValueError, match=r"explicit sets are for \['audio', 'image'\] but modalities are \['image', 'text'\]"
    ):
        build_modality_category_sets(
            category_split, True, ["image", "text"], {"image": ["cat"], "audio": ["dog"]}, 0, 0
        )
    with pytest.raises(ValueError, match="category 'kite' of modality 'text' is unseen"):
        build_modality_category_sets(
            category_split, True, ["image", "text"], {"image": ["cat", "dog", "tree"], "text": ["kite"]}, 0, 0
        )
