"""The cache of prepared label sets: bounded in entries and bytes whatever clients send, shared by threads."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from ovmlr.trained.labels import LabelSetCache


def test_ten_thousand_distinct_label_lists_keep_the_cache_within_its_bounds(trained) -> None:
    label_set = trained.labels(["cat", "zebra"])
    cache = LabelSetCache(max_entries=32, max_bytes=20 * label_set.nbytes)
    built = []
    for i in range(10_000):
        cache.get(("zebra", f"name {i}"), lambda: built.append(1) or label_set)
        assert len(cache) <= 20 and cache.nbytes <= 20 * label_set.nbytes
    assert len(built) == 10_000 and len(cache) == 20  # the byte bound binds before the entry bound
    kept = ("zebra", "name 9999")
    assert cache.get(kept, lambda: built.append(1) or label_set) is label_set and len(built) == 10_000
    assert label_set.nbytes > label_set.vocabulary.text.nbytes


def test_a_set_larger_than_the_byte_bound_is_returned_but_not_kept(trained) -> None:
    label_set = trained.labels(["cat", "zebra"])
    cache = LabelSetCache(max_entries=4, max_bytes=label_set.nbytes - 1)
    assert cache.get(("cat", "zebra"), lambda: label_set) is label_set
    assert len(cache) == 0 and cache.nbytes == 0


def test_threads_build_each_list_once(trained) -> None:
    label_set = trained.labels(["cat"])
    cache, built = LabelSetCache(max_entries=8, max_bytes=10**9), []

    def ask(i: int):
        return cache.get(("cat", i % 4), lambda: built.append(i) or label_set)

    with ThreadPoolExecutor(8) as pool:
        assert all(s is label_set for s in pool.map(ask, range(400)))
    assert len(built) == 4 and len(cache) == 4 and cache.nbytes == 4 * label_set.nbytes
