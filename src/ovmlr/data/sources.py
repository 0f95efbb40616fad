"""Which builder turns which raw release into the data contracts.

The ``data_processing`` pipeline is the same for every dataset: a Kedro environment picks the raw dataset
(``raw_source`` in the catalog); the release's type picks the builder here, and the builder's options are
its section of ``data_processing.sources`` (``tagged_art``, ``fashion_mnist``, ``nus_wide``, ``open_images``,
``custom``).
Every builder's options live in ``conf/base``, so an environment changes only what differs.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import fields
from typing import Any

from .custom.builder import CustomConfig, build_custom_tables
from .custom.release import CustomRelease
from .fashion_mnist import FashionMNISTConfig, FashionMNISTRelease, build_fashion_mnist_tables
from .nus_wide import NusWideConfig, NusWideRelease, build_nus_wide_tables
from .open_images import OpenImagesConfig, OpenImagesRelease, build_open_images_tables
from .tables import DatasetTables
from .tagged_art.builder import TaggedArtConfig, build_tagged_art_tables
from .tagged_art.release import TaggedArtRelease

SourceRelease = FashionMNISTRelease | NusWideRelease | OpenImagesRelease | TaggedArtRelease | CustomRelease

BUILDERS: dict[type, tuple[str, type, Callable[..., DatasetTables]]] = {
    FashionMNISTRelease: ("fashion_mnist", FashionMNISTConfig, build_fashion_mnist_tables),
    NusWideRelease: ("nus_wide", NusWideConfig, build_nus_wide_tables),
    OpenImagesRelease: ("open_images", OpenImagesConfig, build_open_images_tables),
    TaggedArtRelease: ("tagged_art", TaggedArtConfig, build_tagged_art_tables),
    CustomRelease: ("custom", CustomConfig, build_custom_tables),
}


def make_config(config_type: type, options: Mapping[str, Any], where: str = "data_processing.sources") -> Any:
    """Instantiate a builder's config dataclass from parameters, rejecting unknown or missing keys."""
    known = {f.name for f in fields(config_type)}
    unknown = sorted(set(options) - known)
    if unknown:
        raise ValueError(
            f"{where}: unknown option(s) {unknown} for {config_type.__name__}; known: {sorted(known)}"
        )
    values = {key: tuple(value) if isinstance(value, list) else value for key, value in options.items()}
    try:
        return config_type(**values)
    except TypeError as exc:
        raise ValueError(f"{where}: {exc}") from exc


def build_tables(release: SourceRelease, sources: Mapping[str, Any], seed: int) -> DatasetTables:
    """Build the data contracts of ``release`` with the matching builder and its options.

    Args:
        release: The raw release.
        sources: Builder options by source name (``data_processing.sources``).
        seed: Seed of every random choice.

    Raises:
        TypeError: ``release`` is not a known raw release type.
        ValueError: ``sources`` has no section for the release's builder.
    """
    if type(release) not in BUILDERS:
        expected = ", ".join(t.__name__ for t in BUILDERS)
        raise TypeError(f"raw_source loaded a {type(release).__name__}; expected one of: {expected}")
    name, config_type, builder = BUILDERS[type(release)]
    if name not in sources:
        raise ValueError(f"data_processing.sources has no '{name}' section (sections: {sorted(sources)})")
    return builder(release, make_config(config_type, sources[name], f"data_processing.sources.{name}"), seed)
