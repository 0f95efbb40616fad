"""Style shift: the test split draws only items of the test styles, and no other split draws one."""

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from ovmlr.data.sources import make_config
from ovmlr.data.tables import REPORT_SCHEMA, empty_frame
from ovmlr.data.tagged_art.builder import TaggedArtConfig, build_tagged_art_tables
from ovmlr.data.tagged_art.release import ITEM_SCHEMA, TaggedArtRelease
from ovmlr.data.tagged_art.style_shift import StyleShift

SIZE = 8
TAGS = ["cat", "dog", "tree", "boat"]
STYLES = ("openclipart", "noto-emoji", "openmoji")


def styled_release(n_items: int = 300, seed: int = 0) -> TaggedArtRelease:
    """Items in three styles (``source``): every third clip-art; each Noto emoji and the OpenMoji emoji after
    it are one group (the same emoji, two styles). Tags: 1-2 of ``TAGS``; every second clip-art also has
    ``kite``, which no emoji has."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n_items):
        pixels = rng.integers(0, 256, size=(SIZE, SIZE, 4), dtype=np.uint8)
        pixels[..., 3] = 255
        style = STYLES[i % 3]
        tags = list(rng.choice(TAGS, size=int(rng.integers(1, 3)), replace=False))
        tags += ["kite"] if i % 6 == 0 else []
        group = f"oca/{i}" if style == "openclipart" else f"emoji/{i // 3}"
        rows.append(
            {"item_id": f"item{i:04d}", "group_id": group, "source": style, "path": f"/x/{i}.svg"}
            | {
                "title": f"thing {i}",
                "tags": tags,
                "creator": "",
                "licence": "PD",
                "pixels": pixels.tobytes(),
            }
        )
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
SHIFT = replace(CONFIG, style_shift=StyleShift(test_styles=("openmoji",)))


def split_items(tables) -> dict[str, set[str]]:
    """The item ids each split's mosaics draw, and the demo CLIP's pretrain items."""
    layout = tables.mosaic_layout.merge(tables.image_manifest, on="image_id")
    items = {s: set(layout.loc[layout["split"] == s, "item_id"]) for s in ("train", "val", "test")}
    return items | {"pretrain": set(tables.pretrain_pool["item_id"])}


def styles_of(item_ids: set[str]) -> set[str]:
    style = styled_release().items.set_index("item_id")["source"]
    return set(style[sorted(item_ids)])


@pytest.fixture(scope="module")
def shifted():
    return build_tagged_art_tables(styled_release(), SHIFT, seed=3)


def test_only_the_test_split_draws_the_test_styles(shifted):
    items = split_items(shifted)
    assert styles_of(items["test"]) == {"openmoji"}
    for split in ("train", "val", "pretrain"):
        assert items[split] and "openmoji" not in styles_of(items[split]), split
    assert styles_of(items["train"] | items["pretrain"]) == {"openclipart", "noto-emoji"}


def test_an_emoji_is_trained_in_one_style_and_tested_in_another_but_no_drawing_on_both_sides(shifted):
    items = split_items(shifted)
    names = list(items)
    for a in range(len(names)):
        for b in range(a + 1, len(names)):
            assert not items[names[a]] & items[names[b]], (names[a], names[b])
    groups = styled_release().items.set_index("item_id")["group_id"]
    trained = set(groups[sorted(items["train"] | items["pretrain"])])
    assert trained & set(
        groups[sorted(items["test"])]
    )  # the same emoji, another rendering: the shift measured


def test_a_category_without_a_test_style_item_is_dropped_with_the_reason(shifted):
    report = shifted.vocabulary_report.set_index("tag")
    assert report.loc["kite", "reason"] == "no item in the test styles (openmoji)"
    assert "kite" not in set(shifted.categories["name"]) and "kite" not in shifted.labels.columns
    assert set(shifted.categories["name"]) == set(TAGS)
    default = build_tagged_art_tables(styled_release(), CONFIG, seed=3)
    assert "kite" in set(default.categories["name"])  # without the shift, clip-art kites are tested


def test_train_styles_limit_the_pretrain_train_and_val_items():
    shift = StyleShift(test_styles=("openmoji",), train_styles=("noto-emoji",))
    items = split_items(build_tagged_art_tables(styled_release(), replace(CONFIG, style_shift=shift), seed=3))
    assert styles_of(items["test"]) == {"openmoji"}
    assert styles_of(items["train"] | items["val"] | items["pretrain"]) == {"noto-emoji"}


def test_off_is_the_default_build():
    default = build_tagged_art_tables(styled_release(), CONFIG, seed=3)
    options = {"mosaic_dir": "mosaics", "min_items_per_tag": 5, "max_items_per_tag_set": 100}
    options |= {"min_train_items": 2, "tile_size": 8, "train_images": 60, "val_images": 20, "test_images": 30}
    off = build_tagged_art_tables(
        styled_release(), make_config(TaggedArtConfig, options | {"style_shift": None}), 3
    )
    for name in (
        "image_manifest",
        "labels",
        "categories",
        "pretrain_pool",
        "mosaic_layout",
        "vocabulary_report",
    ):
        pd.testing.assert_frame_equal(getattr(default, name), getattr(off, name))
    assert [default.image_files[i]().tobytes() for i in list(default.image_files)[:10]] == [
        off.image_files[i]().tobytes() for i in list(off.image_files)[:10]
    ]


def test_the_parameters_become_a_style_shift_and_a_single_name_is_a_list():
    config = make_config(TaggedArtConfig, {"mosaic_dir": "m", "style_shift": {"test_styles": ["openmoji"]}})
    assert config.style_shift == StyleShift(test_styles=("openmoji",), train_styles=None)
    config = make_config(TaggedArtConfig, {"mosaic_dir": "m", "style_shift": {"test_styles": "openmoji"}})
    assert config.style_shift.test_styles == ("openmoji",)


def test_an_unknown_style_names_the_styles_present():
    config = replace(CONFIG, style_shift=StyleShift(test_styles=("emojione",)))
    message = (
        r"style_shift: no item has the style\(s\) \['emojione'\]; the styles present are \['noto-emoji', "
    )
    with pytest.raises(ValueError, match=message + r"'openclipart', 'openmoji'\]"):
        build_tagged_art_tables(styled_release(), config, seed=3)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"test_style": ["openmoji"]}, r"style_shift: unknown option\(s\) \['test_style'\]"),
        ({"test_styles": []}, r"style_shift.test_styles: name at least one style"),
        ({"test_styles": [1]}, r"style_shift.test_styles: expected a list of style names"),
        ({"test_styles": ["openmoji"], "train_styles": ["openmoji"]}, r"\['openmoji'\] both in test_styles"),
        (["openmoji"], r"style_shift: expected a mapping"),
    ],
)
def test_bad_options_are_errors_naming_the_parameter(options, message):
    with pytest.raises(ValueError, match=message):
        make_config(TaggedArtConfig, {"mosaic_dir": "m", "style_shift": options})


def test_testing_every_style_leaves_nothing_to_train_on():
    config = replace(CONFIG, style_shift=StyleShift(test_styles=STYLES))
    with pytest.raises(ValueError, match="every style present .* is tested; none is left to train on"):
        build_tagged_art_tables(styled_release(), config, seed=3)
