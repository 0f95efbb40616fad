"""Fixtures: small replicas of the raw release layouts (see ``data_replicas``)."""

from pathlib import Path

import pytest
from data_replicas import tiny_fashion_release, write_nus_wide_replica, write_open_images_replica

from ovmlr.data.fashion_mnist import FashionMNISTRelease


@pytest.fixture(name="tiny_fashion_release")
def tiny_fashion_release_fixture() -> FashionMNISTRelease:
    return tiny_fashion_release()


@pytest.fixture
def nus_wide_root(tmp_path: Path) -> Path:
    return write_nus_wide_replica(tmp_path / "nus_wide")


@pytest.fixture
def open_images_root(tmp_path: Path) -> Path:
    return write_open_images_replica(tmp_path / "open_images")
