"""Render a few Twemoji SVGs into a folder of mixed image files (``scripts/predict_demo_images.sh``)."""

from __future__ import annotations

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
    "1f431": "cat-face",
    "1f333": "tree",
    "2764": "red-heart",
    "2b50": "star",
    "1f6b2": "bicycle",
    "1f355": "pizza",
    "2602": "umbrella",
    "26f5": "sailboat",
    "1f33b": "sunflower",
    "1f427": "penguin",
    "1f4da": "books",
    "1f419": "octopus",
}
FORMATS = ("png", "jpg", "webp", "grey.png")


def save(image: Image.Image, path: Path, kind: str) -> None:
    """PNG keeps the alpha channel; JPEG goes on white; greyscale is mode L."""
    if kind == "png":
        image.save(path)
        return
    white = Image.new("RGB", image.size, (255, 255, 255))
    white.paste(image, mask=image.getchannel("A"))
    if kind in {"jpg", "webp"}:
        white.save(path, quality=90)
    else:
        white.convert("L").save(path)


def main(svg_dir: str, out_dir: str) -> None:
    out = Path(out_dir)
    (out / "more").mkdir(parents=True, exist_ok=True)
    for i, (code, name) in enumerate(EMOJI.items()):
        pixels = rasterise_svg((Path(svg_dir) / f"{code}.svg").read_bytes(), 160, 30.0, 4.0)
        image = Image.fromarray(pixels).convert("RGBA")
        kind = FORMATS[i % len(FORMATS)]
        folder = out / "more" if i % 3 == 2 else out  # a sub-folder: folders are searched recursively
        save(image, folder / f"{name}.{kind}", kind)
    (out / "broken.jpg").write_bytes(b"this is not a JPEG")
    print(f"predict demo images: {len(EMOJI)} Twemoji renders and one broken file in {out}")


if __name__ == "__main__":
    main(*sys.argv[1:3])
