"""Render Twemoji SVGs into a folder of mixed image files (``scripts/predict_demo_images.sh``).

Multi-label images, as the project's task: each image is a 2x2 grid with 2 to 4 different emoji (seeded),
its file name lists them (``03_hedgehog+rocket.png``); formats and modes vary: PNG with alpha, JPEG, WebP,
greyscale; a few sit in a sub-folder (folders are searched recursively). Plus one broken file.
"""

from __future__ import annotations

import random
import sys
from pathlib import Path

from PIL import Image

from ovmlr.data.tagged_art.render import rasterise_svg

# codepoint file -> file name (the emoji's meaning is in the name only for people reading the folder)
EMOJI = {
    "1f994": "hedgehog",
    "1f41e": "ladybug",
    "1f353": "strawberry",
    "1f3b8": "guitar",
    "1f680": "rocket",
    "2603": "snowman",
    "1f431": "cat",
    "1f333": "tree",
    "2764": "heart",
    "2b50": "star",
    "1f6b2": "bicycle",
    "1f355": "pizza",
    "2602": "umbrella",
    "26f5": "sailboat",
    "1f33b": "sunflower",
    "1f427": "penguin",
    "1f4da": "book",
    "1f419": "octopus",
}
FORMATS = ("png", "jpg", "webp", "grey.png")
N_IMAGES = 16
TILE = 64
MAX_SVG_BYTES = 4_000_000  # as the dataset (catalog_data_processing.yml max_svg_bytes)


def save(image: Image.Image, path: Path, kind: str) -> None:
    """PNG keeps the alpha channel; JPEG and WebP go on white; greyscale is mode L."""
    if kind == "png":
        image.save(path)
        return
    white = Image.new("RGB", image.size, (255, 255, 255))
    white.paste(image, mask=image.getchannel("A"))
    if kind in {"jpg", "webp"}:
        white.save(path, quality=90)
    else:
        white.convert("L").save(path)


def mosaic(tiles: list[Image.Image], slots: list[int]) -> Image.Image:
    """A transparent 2x2 canvas with ``tiles`` in the given slots (0..3, row-major)."""
    canvas = Image.new("RGBA", (2 * TILE, 2 * TILE), (0, 0, 0, 0))
    for tile, slot in zip(tiles, slots, strict=True):
        canvas.paste(tile, ((slot % 2) * TILE, (slot // 2) * TILE), tile)
    return canvas


def main(svg_dir: str, out_dir: str) -> None:
    rng = random.Random(7)
    out = Path(out_dir)
    (out / "more").mkdir(parents=True, exist_ok=True)
    tiles = {
        name: Image.fromarray(
            rasterise_svg((Path(svg_dir) / f"{code}.svg").read_bytes(), TILE, MAX_SVG_BYTES, 4.0)
        )
        for code, name in EMOJI.items()
    }
    for i in range(N_IMAGES):
        names = rng.sample(sorted(tiles), rng.randint(2, 4))
        image = mosaic([tiles[n].convert("RGBA") for n in names], rng.sample(range(4), len(names)))
        kind = FORMATS[i % len(FORMATS)]
        folder = out / "more" if i % 3 == 2 else out
        save(image, folder / f"{i:02d}_{'+'.join(names)}.{kind}", kind)
    (out / "broken.jpg").write_bytes(b"this is not a JPEG")
    print(f"predict demo images: {N_IMAGES} Twemoji mosaics and one broken file in {out}")


if __name__ == "__main__":
    main(*sys.argv[1:3])
