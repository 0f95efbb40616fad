import json
from pathlib import Path

import pytest
from kedro.io import DatasetError

from ovmlr.data.tagged_art import release as release_module
from ovmlr.datasets import TaggedArtDataset

FONT = Path("/usr/share/fonts/truetype/noto/NotoColorEmoji.ttf")
needs_font = pytest.mark.skipif(not FONT.is_file(), reason="Debian fonts-noto-color-emoji is not installed")

META = """<metadata><rdf:RDF xmlns:cc="http://web.resource.org/cc/" xmlns:dc="http://purl.org/dc/elements/1.1/"
 xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><cc:Work><dc:title>{title}</dc:title>
 <dc:subject><rdf:Bag>{tags}</rdf:Bag></dc:subject></cc:Work></rdf:RDF></metadata>"""


def svg(title: str, tags: list[str], body: str, size: str = 'width="40" height="40"') -> str:
    items = "".join(f"<rdf:li>{t}</rdf:li>" for t in tags)
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" {size}>{META.format(title=title, tags=items)}{body}</svg>'
    )


def write_sources(root: Path) -> dict:
    art = root / "svg" / "animals"
    art.mkdir(parents=True)
    (art / "cat.svg").write_text(
        svg("Cat", ["cat", "animal"], '<circle cx="20" cy="20" r="15" fill="orange"/>')
    )
    (art / "blank.svg").write_text(svg("Nothing", ["void"], ""))
    (art / "broken.svg").write_text("<svg><metadata>")
    (art / "thin.svg").write_text(svg("Line", ["line"], '<rect width="40" height="2" fill="black"/>'))
    cldr = root / "en.xml"
    cldr.write_text(
        '<ldml><annotations><annotation cp="🐈">cat | pet</annotation>'
        '<annotation cp="\ue000">private | nothing</annotation></annotations></ldml>'
    )
    moji = root / "openmoji"
    (moji / "color" / "svg").mkdir(parents=True)
    (moji / "data").mkdir()
    (moji / "data" / "openmoji.json").write_text(
        json.dumps(
            [
                {
                    "hexcode": "1F408",
                    "annotation": "cat",
                    "tags": "cat, pet",
                    "openmoji_tags": "",
                    "skintone": "",
                },
                {
                    "hexcode": "1F44D-1F3FD",
                    "annotation": "thumbs up",
                    "tags": "",
                    "openmoji_tags": "",
                    "skintone": 3,
                },
                {"hexcode": "1F415", "annotation": "dog", "tags": "dog", "openmoji_tags": "", "skintone": ""},
            ]
        )
    )
    (moji / "color" / "svg" / "1F408.svg").write_text(
        '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 72 72">'
        '<rect x="10" y="10" width="50" height="50" fill="green"/></svg>'
    )
    return {
        "openclipart_dir": str(root / "svg"),
        "cldr_annotations": [str(cldr)],
        "emoji_font": str(FONT),
        "openmoji_dir": str(moji),
        "raster_size": 16,
        "num_workers": 1,
        "cache_path": str(root / "cache.parquet"),
    }


@needs_font
def test_items_load_and_bad_ones_are_skipped_with_the_reason(tmp_path):
    loaded = TaggedArtDataset(**write_sources(tmp_path)).load()
    items = loaded.items.set_index("item_id")
    assert set(items.index) == {"oca/animals/cat", "noto/1f408", "openmoji/1f408"}
    assert items.loc["oca/animals/cat", "tags"] == ["cat", "animal"]
    assert items.loc["noto/1f408", "group_id"] == items.loc["openmoji/1f408", "group_id"] == "emoji/1f408"
    assert len(items.loc["noto/1f408", "pixels"]) == 16 * 16 * 4
    reasons = loaded.skipped.set_index("image_id")["reason"]
    assert reasons["oca/animals/blank"] == "blank: no visible pixel"
    assert reasons["oca/animals/broken"].startswith("not well-formed XML")
    assert reasons["oca/animals/thin"].startswith("extreme aspect ratio")
    assert reasons["noto/e000"] == "glyph not in the font: U+E000"
    assert "No such file" in reasons["openmoji/1f415"]


@needs_font
def test_a_warm_load_renders_nothing(tmp_path, monkeypatch):
    dataset = TaggedArtDataset(**write_sources(tmp_path))
    first = dataset.load()
    mtime = (tmp_path / "cache.parquet").stat().st_mtime_ns

    def fail(*args, **kwargs):
        raise AssertionError("rendered again")

    monkeypatch.setattr(release_module, "rasterise_svg", fail)
    monkeypatch.setattr(release_module, "render_emoji", fail)
    second = dataset.load()
    assert second.items["item_id"].tolist() == first.items["item_id"].tolist()
    assert (tmp_path / "cache.parquet").stat().st_mtime_ns == mtime


def test_a_missing_source_names_the_debian_package(tmp_path):
    sources = write_sources(tmp_path) | {"openclipart_dir": str(tmp_path / "nowhere")}
    with pytest.raises(DatasetError, match=r"Install the Debian package openclipart-svg"):
        TaggedArtDataset(**sources).load()


def test_a_malformed_openmoji_index_names_the_file(tmp_path):
    sources = write_sources(tmp_path)
    (Path(sources["openmoji_dir"]) / "data" / "openmoji.json").write_text("[{")
    with pytest.raises(DatasetError, match=r"openmoji.json: not valid JSON"):
        TaggedArtDataset(**sources).load()


def test_an_unknown_argument_is_an_error():
    with pytest.raises(DatasetError, match="TaggedArtDataset"):
        TaggedArtDataset(cache_path="x", openclipart_dir="a", cldr_annotations=[], emoji_font="f", colour=1)


def test_a_missing_openmoji_folder_says_how_to_install_it(tmp_path):
    sources = write_sources(tmp_path) | {"openmoji_dir": str(tmp_path / "none")}
    with pytest.raises(DatasetError, match=r"Install the npm package openmoji \(make dataset"):
        TaggedArtDataset(**sources).load()
