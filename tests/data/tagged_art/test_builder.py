import numpy as np
import pandas as pd
import pytest

from ovmlr.data.tables import REPORT_SCHEMA, empty_frame
from ovmlr.data.tagged_art.builder import TaggedArtConfig, build_tagged_art_tables
from ovmlr.data.tagged_art.release import ITEM_SCHEMA, TaggedArtRelease

SIZE = 8
TAGS = ["cat", "dog", "tree", "boat", "star", "moon"]


def release(n_items: int = 240, seed: int = 0) -> TaggedArtRelease:
    """Items with random RGBA pixels and 1-2 tags; every 10th an emoji drawn in two styles (one group)."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n_items):
        pixels = rng.integers(0, 256, size=(SIZE, SIZE, 4), dtype=np.uint8)
        pixels[..., 3] = 255
        tags = list(rng.choice(TAGS, size=int(rng.integers(1, 3)), replace=False))
        group = f"emoji/{i // 2}" if i % 10 < 2 else f"oca/{i}"
        rows.append(
            {"item_id": f"item{i:04d}", "group_id": group, "source": "test", "path": f"/x/{i}.svg"}
            | {
                "title": f"thing {i}",
                "tags": tags,
                "creator": "",
                "licence": "PD",
                "pixels": pixels.tobytes(),
            }
        )
    rows.append(rows[5] | {"item_id": "item9999", "path": "/x/copy.svg"})  # a pixel copy of item0005
    return TaggedArtRelease(
        items=pd.DataFrame(rows, columns=list(ITEM_SCHEMA)),
        skipped=empty_frame(REPORT_SCHEMA),
        raster_size=SIZE,
    )


CONFIG = TaggedArtConfig(
    mosaic_dir="mosaics",
    min_items_per_tag=5,
    max_items_per_tag_set=100,
    min_train_items=2,
    tile_size=8,
    train_images=60,
    val_images=20,
    test_images=30,
)


@pytest.fixture(scope="module")
def tables():
    return build_tagged_art_tables(release(), CONFIG, seed=3)


def test_pixel_copies_are_dropped_and_reported(tables):
    report = tables.data_report.set_index("image_id")
    assert report.loc["item9999", "reason"] == "pixel copy of item0005"
    assert "item9999" not in set(tables.mosaic_layout["item_id"]) | set(tables.pretrain_pool["item_id"])


def test_pools_share_no_item_and_no_group(tables):
    layout = tables.mosaic_layout.merge(tables.image_manifest, on="image_id")
    items = {
        split: set(layout.loc[layout["split"] == split, "item_id"]) for split in ("train", "val", "test")
    }
    items["pretrain"] = set(tables.pretrain_pool["item_id"])
    groups = release().items.set_index("item_id")["group_id"]
    names = list(items)
    for a in range(len(names)):
        for b in range(a + 1, len(names)):
            assert not items[names[a]] & items[names[b]], (names[a], names[b])
            assert not set(groups[list(items[names[a]])]) & set(groups[list(items[names[b]])])


def test_labels_are_the_union_of_the_tiles_tags(tables):
    tags = release().items.set_index("item_id")["tags"]
    labels = tables.labels.set_index("image_id")
    for image_id, tiles in tables.mosaic_layout.groupby("image_id"):
        expected = set().union(*(set(tags[i]) for i in tiles["item_id"]))
        assert set(labels.columns[labels.loc[image_id] == 1]) == expected
    assert set(np.unique(labels.to_numpy())) <= {0, 1}


def test_mosaics_render_at_the_grid_size_and_differ(tables):
    first = [np.asarray(tables.image_files[i]()) for i in tables.image_manifest["image_id"][:20]]
    assert all(image.shape == (16, 16, 3) for image in first)
    assert len({image.tobytes() for image in first}) == len(first)


def test_same_seed_same_tables_other_seed_other_tables(tables):
    again = build_tagged_art_tables(release(), CONFIG, seed=3)
    other = build_tagged_art_tables(release(), CONFIG, seed=4)
    pd.testing.assert_frame_equal(tables.labels, again.labels)
    pd.testing.assert_frame_equal(tables.mosaic_layout, again.mosaic_layout)
    assert not tables.mosaic_layout["item_id"].equals(other.mosaic_layout["item_id"])


BUILD_IN_A_PROCESS = """
import sys
sys.path.insert(0, {tests!r})
from test_builder import CONFIG, release
from ovmlr.data.tagged_art.builder import build_tagged_art_tables
from ovmlr.data.tables import build_hash
print(build_hash(build_tagged_art_tables(release(), CONFIG, seed=3)))
"""
# The fixture's build hash, pinned: a change of the builder that changes the data must change this line.
FIXTURE_BUILD_HASH = "ac7756d7ce096b17"


def test_the_build_hash_is_the_same_under_any_hash_seed_and_pinned():
    import os
    import subprocess
    import sys
    from pathlib import Path

    script = BUILD_IN_A_PROCESS.format(tests=str(Path(__file__).parent))
    hashes = {
        subprocess.run(
            [sys.executable, "-c", script],
            capture_output=True,
            text=True,
            check=True,
            env=os.environ | {"PYTHONHASHSEED": seed},
        ).stdout.strip()
        for seed in ("1", "2")
    }
    assert hashes == {FIXTURE_BUILD_HASH}


def test_the_build_hash_changes_with_the_data(tables):
    from ovmlr.data.tables import build_hash

    other = build_tagged_art_tables(release(), CONFIG, seed=4)
    assert build_hash(tables) == build_hash(build_tagged_art_tables(release(), CONFIG, seed=3))
    assert build_hash(tables) != build_hash(other)


def test_the_held_out_items_are_whole_groups_of_every_source_and_in_no_other_pool():
    base = release(n_items=400)
    sources = (["openclipart", "openmoji"] * 201)[: len(base.items)]
    items = base.items.assign(source=sources)
    items.loc[items["group_id"].str.startswith("emoji"), "source"] = "openmoji"
    tables = build_tagged_art_tables(TaggedArtRelease(items, base.skipped, SIZE), CONFIG, seed=3)
    pool = tables.pretrain_pool.merge(items[["item_id", "group_id", "source"]], on="item_id")
    held = pool[pool["split"] == "heldout"]
    assert set(held["source"]) == {"openclipart", "openmoji"}
    assert not set(held["group_id"]) & set(pool.loc[pool["split"] == "train", "group_id"])
    assert not set(held["item_id"]) & set(tables.mosaic_layout["item_id"])
    share = len(held) / len(pool)
    assert 0.03 < share < 0.2  # 0.10 of the pool's groups, per source


def test_pretrain_pool_carries_rgba_tags_and_a_heldout_split(tables):
    pool = tables.pretrain_pool
    assert set(pool["split"]) == {"train", "heldout"}
    assert (pool["channels"] == 4).all() and (pool["pixels"].map(len) == SIZE * SIZE * 4).all()
    assert all(set(t.split("|")) <= set(tables.categories["name"]) for t in pool["tags"] if t)


def test_a_category_missing_from_a_pool_is_dropped_and_reported():
    config = TaggedArtConfig(
        mosaic_dir="m",
        min_items_per_tag=5,
        min_train_items=1000,
        tile_size=8,
        train_images=10,
        val_images=5,
        test_images=5,
    )
    with pytest.raises(ValueError, match="pool has no item with a category"):
        build_tagged_art_tables(release(), config, seed=3)


def test_fractions_that_leave_no_train_pool_are_rejected():
    config = TaggedArtConfig(mosaic_dir="m", pretrain_fraction=0.6, val_fraction=0.2, test_fraction=0.2)
    with pytest.raises(ValueError, match="sum to less than 1"):
        build_tagged_art_tables(release(), config, seed=3)


def test_items_that_did_not_render_reach_the_data_report():
    base = release()
    skipped = pd.DataFrame(
        {"image_id": ["bad"], "path": ["/x/bad.svg"], "reason": ["blank: no visible pixel"]}
    )
    with_skipped = TaggedArtRelease(items=base.items, skipped=skipped, raster_size=SIZE)
    report = build_tagged_art_tables(with_skipped, CONFIG, seed=3).data_report.set_index("image_id")
    assert report.loc["bad", "reason"] == "blank: no visible pixel"
