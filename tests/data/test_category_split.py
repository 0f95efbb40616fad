import pandas as pd
import pytest

from ovmlr.data.category_split import (
    check_partition,
    make_category_split,
    unseen_at_random,
    unseen_by_frequency,
    unseen_from_dataset,
    unseen_from_names,
)

NAMES = ["cat", "dog", "tree", "kite", "boat"]


def categories(roles=None):
    return pd.DataFrame({"category_id": range(5), "name": NAMES, "dataset_role": roles or [""] * 5})


def test_dataset_strategy_takes_the_dataset_roles():
    assert unseen_from_dataset(categories(["seen", "unseen", "seen", "unseen", "seen"])) == ["dog", "kite"]


def test_dataset_strategy_needs_a_role_for_every_category():
    with pytest.raises(ValueError, match=r"strategy 'dataset' needs dataset_role .* 'cat' has ''"):
        unseen_from_dataset(categories())


def test_file_strategy_takes_the_parameter_or_the_file_but_not_both():
    assert unseen_from_names(["kite"], []) == ["kite"]
    assert unseen_from_names([], ["boat", "cat"]) == ["boat", "cat"]
    with pytest.raises(
        ValueError, match="both category_sets.unseen_names and the unseen_category_names file"
    ):
        unseen_from_names(["kite"], ["boat"])
    with pytest.raises(ValueError, match=r"unseen name\(s\) \['kite'\] listed more than once"):
        unseen_from_names(["kite", "kite"], [])


def test_frequency_strategy_picks_rarest_or_most_frequent_with_stable_ties():
    positives = pd.Series([5, 1, 9, 1, 3], index=NAMES)
    assert unseen_by_frequency(positives, 2, "rarest") == ["dog", "kite"]
    assert unseen_by_frequency(positives, 3, "rarest") == ["dog", "kite", "boat"]
    assert unseen_by_frequency(positives, 2, "most_frequent") == ["cat", "tree"]
    with pytest.raises(ValueError, match="frequency_order must be one of"):
        unseen_by_frequency(positives, 2, "median")


def test_random_strategy_is_seeded():
    a = unseen_at_random(NAMES, 2, seed=3)
    assert a == unseen_at_random(NAMES, 2, seed=3)
    assert len(a) == 2 and set(a) <= set(NAMES)
    assert len({tuple(unseen_at_random(NAMES, 2, seed=s)) for s in range(10)}) > 1
    with pytest.raises(
        ValueError, match=r"num_unseen must be between 1 and 4 \(the dataset has 5 categories\), got 5"
    ):
        unseen_at_random(NAMES, 5, seed=0)


def test_partition_checks_overlap_emptiness_and_unknown_names():
    with pytest.raises(ValueError, match=r"categories \['dog'\] are both seen and unseen"):
        check_partition(["cat", "dog"], ["dog", "kite"], NAMES)
    with pytest.raises(ValueError, match="the unseen category set is empty"):
        check_partition(NAMES, [], NAMES)
    with pytest.raises(ValueError, match="the seen category set is empty"):
        check_partition([], NAMES, NAMES)
    with pytest.raises(ValueError, match="unseen category 'giraffe' is not in the dataset's categories"):
        check_partition(["cat"], ["giraffe"], NAMES)


def test_category_split_keeps_categories_order():
    split = make_category_split(categories(), ["kite", "dog"])
    assert split.to_dict("list") == {
        "category_id": [0, 1, 2, 3, 4],
        "name": NAMES,
        "role": ["seen", "unseen", "seen", "unseen", "seen"],
    }
    with pytest.raises(ValueError, match="the seen category set is empty"):
        make_category_split(categories(), NAMES)


def test_stratified_strategy_draws_one_category_per_frequency_stratum():
    from ovmlr.data.category_split import unseen_stratified

    positives = pd.Series([50, 1, 30, 2, 40, 3], index=["a", "b", "c", "d", "e", "f"])
    picked = unseen_stratified(positives, 2, seed=0)
    assert len(picked) == 2
    assert len(set(picked) & {"b", "d", "f"}) == 1 and len(set(picked) & {"a", "c", "e"}) == 1
    assert picked == unseen_stratified(positives, 2, seed=0)
    with pytest.raises(ValueError, match="num_unseen must be between 1 and 5"):
        unseen_stratified(positives, 6, seed=0)
