"""Which builder turns which raw release into the data contracts.

The ``data_processing`` pipeline is the same for every dataset: a Kedro environment picks the raw dataset
(``raw_source`` in the catalog) and the builder options (``data_processing.source`` in the parameters), and
the release's type picks the builder here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import fields
from typing import Any

from .fashion_mnist import FashionMNISTConfig, FashionMNISTRelease, build_fashion_mnist_tables
from .nus_wide import NusWideConfig, NusWideRelease, build_nus_wide_tables
from .open_images import OpenImagesConfig, OpenImagesRelease, build_open_images_tables
from .tables import DatasetTables
from .tagged_art.builder import TaggedArtConfig, build_tagged_art_tables
from .tagged_art.release import TaggedArtRelease

SourceRelease = FashionMNISTRelease | NusWideRelease | OpenImagesRelease | TaggedArtRelease

BUILDERS: dict[type, tuple[type, Callable[..., DatasetTables]]] = {
    FashionMNISTRelease: (FashionMNISTConfig, build_fashion_mnist_tables),
    NusWideRelease: (NusWideConfig, build_nus_wide_tables),
    OpenImagesRelease: (OpenImagesConfig, build_open_images_tables),
    TaggedArtRelease: (TaggedArtConfig, build_tagged_art_tables),
}


def make_config(config_type: type, options: Mapping[str, Any]) -> Any:
    """Instantiate a builder's config dataclass from parameters, rejecting unknown or missing keys."""
    known = {f.name for f in fields(config_type)}
    unknown = sorted(set(options) - known)
    if unknown:
        raise ValueError(
            f"data_processing.source: unknown option(s) {unknown} for {config_type.__name__}; "
            f"known: {sorted(known)}"
        )
    values = {key: tuple(value) if isinstance(value, list) else value for key, value in options.items()}
    try:
        return config_type(**values)
    except TypeError as exc:
        raise ValueError(f"data_processing.source: {exc}") from exc


def build_tables(release: SourceRelease, options: Mapping[str, Any], seed: int) -> DatasetTables:
    """Build the data contracts of ``release`` with the matching builder.

    Raises:
        TypeError: ``release`` is not a known raw release type.
    """
    if type(release) not in BUILDERS:
        expected = ", ".join(t.__name__ for t in BUILDERS)
        raise TypeError(f"raw_source loaded a {type(release).__name__}; expected one of: {expected}")
    config_type, builder = BUILDERS[type(release)]
    return builder(release, make_config(config_type, options), seed)
