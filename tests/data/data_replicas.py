"""Replicas of the raw release layouts (IDX, NUS-WIDE, Open Images), written small for the tests."""

from __future__ import annotations

import gzip
import io
import json
import struct
from pathlib import Path

import numpy as np
from PIL import Image

from ovmlr.data.fashion_mnist import FashionMNISTRelease


def idx_bytes(array: np.ndarray, type_code: int = 0x08) -> bytes:
    """The IDX encoding of ``array`` (big-endian data, as on the Fashion-MNIST release)."""
    header = bytes([0, 0, type_code, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(array.dtype.newbyteorder(">")).tobytes()


def write_idx(path: Path, array: np.ndarray, compress: bool = True) -> Path:
    raw = idx_bytes(array)
    path.write_bytes(gzip.compress(raw) if compress else raw)
    return path


def jpeg_bytes(seed: int, size: int = 64, noise: bool = True) -> bytes:
    """A JPEG: random noise (> 4000 bytes) or a flat colour (a few hundred bytes, like the placeholder)."""
    rng = np.random.default_rng(seed)
    if noise:
        pixels = rng.integers(0, 256, size=(size, size, 3), dtype=np.uint8)
    else:
        pixels = np.full((size, size, 3), 128, dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="JPEG", quality=95)
    return buffer.getvalue()


def tiny_fashion_release() -> FashionMNISTRelease:
    """400 train + 120 test items of 4×4 pixels; every item's pixels encode its own index and class."""
    rng = np.random.default_rng(0)

    def items(n: int, offset: int) -> tuple[np.ndarray, np.ndarray]:
        labels = np.arange(n, dtype=np.uint8) % 10
        pixels = rng.integers(1, 256, size=(n, 4, 4), dtype=np.uint8)
        pixels[:, 0, 0] = labels + offset  # class (+ split marker) in the corner pixel
        return pixels, labels

    train_images, train_labels = items(400, 0)
    test_images, test_labels = items(120, 100)
    return FashionMNISTRelease(train_images, train_labels, test_images, test_labels)


# NUS-WIDE replica: 6 tags, 3 concepts ("animal" is not a tag, like 6 of the 81 real concepts).
NUS_TAGS = ["water", "sky", "sunset", "beach", "cat", "dog"]
NUS_CONCEPTS = ["sky", "beach", "animal"]
NUS_SEEN = ["water", "sunset", "cat", "dog"]  # tags minus concepts, TagList1k order
NUS_IMAGES = [  # (key, list, kind) kind: ok / placeholder / missing / corrupt
    ("actor/0001_11.jpg", "train", "ok"),
    ("actor/0002_12.jpg", "train", "ok"),
    ("actor/0003_13.jpg", "train", "placeholder"),
    ("beach/0001_21.jpg", "train", "ok"),
    ("beach/0002_22.jpg", "train", "corrupt"),
    ("beach/0003_23.jpg", "train", "ok"),
    ("beach/0004_24.jpg", "test", "ok"),
    ("beach/0005_25.jpg", "test", "missing"),
    ("actor/0004_14.jpg", "test", "ok"),
]


def nus_tag_matrix() -> np.ndarray:
    return (np.arange(len(NUS_IMAGES) * len(NUS_TAGS)).reshape(len(NUS_IMAGES), -1) % 3 == 0).astype(np.int8)


def nus_concept_matrix() -> np.ndarray:
    return (np.arange(len(NUS_IMAGES) * len(NUS_CONCEPTS)).reshape(len(NUS_IMAGES), -1) % 2 == 1).astype(
        np.int8
    )


def write_lines(path: Path, lines: list[str], newline: str = "\n") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(newline.join(lines) + newline, encoding="utf-8")


def write_nus_wide_replica(root: Path) -> Path:
    """The NUS-WIDE release layout with Windows paths, CRLF image lists and tab-separated tag rows."""
    to_windows = lambda key: key.replace("/", "\\")  # noqa: E731
    write_lines(
        root / "ImageList/Imagelist.txt",
        [f"C:\\ImageData\\Flickr\\{to_windows(k)}" for k, _, _ in NUS_IMAGES],
        "\r\n",
    )
    for split, name in (("train", "TrainImagelist.txt"), ("test", "TestImagelist.txt")):
        write_lines(
            root / "ImageList" / name, [to_windows(k) for k, s, _ in NUS_IMAGES if s == split], "\r\n"
        )
    write_lines(root / "NUS_WID_Tags/TagList1k.txt", NUS_TAGS)
    write_lines(
        root / "NUS_WID_Tags/AllTags1k.txt", ["\t".join(map(str, row)) + "\t" for row in nus_tag_matrix()]
    )
    write_lines(root / "Concepts81.txt", NUS_CONCEPTS)
    for column, concept in enumerate(NUS_CONCEPTS):
        write_lines(
            root / f"AllLabels/Labels_{concept}.txt", [str(v) for v in nus_concept_matrix()[:, column]]
        )
    for seed, (key, _, kind) in enumerate(NUS_IMAGES):
        path = root / "Flickr" / key
        path.parent.mkdir(parents=True, exist_ok=True)
        if kind == "ok":
            path.write_bytes(jpeg_bytes(seed))
        elif kind == "placeholder":
            path.write_bytes(jpeg_bytes(seed, size=16, noise=False))
        elif kind == "corrupt":
            path.write_bytes(jpeg_bytes(seed)[:5000])  # truncated: > 4000 bytes but cannot be decoded
    return root


# Open Images replica: 3 seen classes, 2 unseen, one extra class present only in annotations.
OI_SEEN = ["/m/01", "/m/02", "/m/03"]
OI_UNSEEN = ["/m/04", "/m/05"]
OI_NAMES = {
    "/m/01": "Cat",
    "/m/02": "Dog",
    "/m/03": "Tree",
    "/m/04": "Giraffe",
    "/m/05": "Kite",
    "/m/99": "Other",
}
OI_ANNOTATIONS = {  # split -> rows (ImageID, LabelName, Confidence)
    "train": [
        ("a1", "/m/01", 1),
        ("a1", "/m/02", 0),
        ("a2", "/m/03", 1),
        ("a2", "/m/99", 1),
        ("a3", "/m/04", 1),
    ],
    "validation": [("v1", "/m/02", 0), ("v1", "/m/05", 0)],
    "test": [
        ("t1", "/m/04", 1),
        ("t1", "/m/01", 0),
        ("t1", "/m/01", 1),
        ("t2", "/m/05", 1),
        ("t3", "/m/03", 0),
    ],
}
OI_MISSING = {"t3"}  # annotated but no image file


def write_open_images_replica(root: Path, unseen_as_indices: bool = False) -> Path:
    write_lines(root / "classes-trainable.txt", OI_SEEN)
    if unseen_as_indices:
        import pickle

        pool = ["/m/77", *OI_UNSEEN[::-1]]  # LESA: indices into a pickled list of unseen class ids
        (root / "unseen_labels.pkl").write_bytes(pickle.dumps(pool))
        write_lines(root / "top_400_unseen.csv", [str(pool.index(c)) for c in OI_UNSEEN])
    else:
        write_lines(root / "top_400_unseen.csv", OI_UNSEEN)
    write_lines(root / "class-descriptions.csv", [f'{k},"{v}"' for k, v in OI_NAMES.items()])
    for seed, (split, rows) in enumerate(OI_ANNOTATIONS.items()):
        lines = ["ImageID,Source,LabelName,Confidence", *(f"{i},verification,{c},{v}" for i, c, v in rows)]
        write_lines(root / split / f"{split}-annotations-human-imagelabels.csv", lines)
        for image_id in dict.fromkeys(i for i, _, _ in rows):
            if image_id not in OI_MISSING:
                path = root / "images" / split / f"{image_id}.jpg"
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(jpeg_bytes(seed, size=24))
    return root


CUSTOM_COLOURS = {"Red": (220, 30, 30), "green": (30, 200, 40), "blue_square": (30, 40, 220)}


def custom_image_tags(count: int = 36) -> list[tuple[str, list[str]]]:
    """``(relative path, tags as written)`` of a small custom folder: a colour tag on every image, ``Circles``
    or ``circle`` on every other one (normalised and merged into ``circle``), ``rare`` on two (dropped by
    ``min_count`` 5)."""
    colours = list(CUSTOM_COLOURS)
    rows = []
    for i in range(count):
        tags = [colours[i % 3]]
        if i % 2 == 0:
            tags.append("Circles" if i % 4 == 0 else "circle")
        if i < 2:
            tags.append("rare")
        rows.append((f"{'sub/' if i % 5 == 0 else ''}img_{i:03d}.{'png' if i % 2 else 'jpg'}", tags))
    return rows


def write_custom_folder(root: Path, fmt: str = "csv", count: int = 36, size: int = 32) -> Path:
    """A folder of rendered images (a coloured square, a white disc when tagged circle) and its tag file:
    ``tags.csv`` (``path,tags`` joined by ``|``), ``tags.jsonl`` or COCO ``instances.json``. Returns the tag
    file."""
    rows = custom_image_tags(count)
    for path, tags in rows:
        canvas = np.full((size, size, 3), 245, dtype=np.uint8)
        colour = next(CUSTOM_COLOURS[t] for t in tags if t in CUSTOM_COLOURS)
        canvas[4:-4, 4:-4] = colour
        if any(t.lower().startswith("circle") for t in tags):
            yy, xx = np.mgrid[:size, :size]
            canvas[(yy - size / 2) ** 2 + (xx - size / 2) ** 2 < (size / 5) ** 2] = 255
        (root / "images" / path).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(canvas).save(root / "images" / path)
    if fmt == "csv":
        lines = ["path,tags", *(f"{path},{'|'.join(tags)}" for path, tags in rows)]
        target = root / "tags.csv"
        target.write_text("\n".join(lines) + "\n", encoding="utf-8")
    elif fmt == "jsonl":
        target = root / "tags.jsonl"
        target.write_text(
            "".join(json.dumps({"path": p, "tags": t}) + "\n" for p, t in rows), encoding="utf-8"
        )
    else:
        names = sorted({t for _, tags in rows for t in tags})
        coco = {
            "images": [{"id": 100 + i, "file_name": p} for i, (p, _) in enumerate(rows)],
            "categories": [{"id": j + 1, "name": n} for j, n in enumerate(names)],
            "annotations": [
                {"id": 1000 + k, "image_id": 100 + i, "category_id": names.index(t) + 1}
                for k, (i, t) in enumerate((i, t) for i, (_, tags) in enumerate(rows) for t in tags)
            ],
        }
        target = root / "instances.json"
        target.write_text(json.dumps(coco), encoding="utf-8")
    return target
