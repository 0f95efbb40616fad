import gzip
import struct

import numpy as np
import pytest
from kedro.io import DataCatalog, DatasetError

from ovmlr.datasets import FashionMNISTDataset, IDXDataset


def write_idx(path, array):
    header = bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    path.write_bytes(gzip.compress(header + array.astype(np.uint8).tobytes()))
    return path


@pytest.fixture
def fashion_dir(tmp_path):
    rng = np.random.default_rng(0)
    write_idx(tmp_path / "train-images-idx3-ubyte.gz", rng.integers(0, 256, (12, 28, 28)))
    write_idx(tmp_path / "train-labels-idx1-ubyte.gz", np.arange(12) % 10)
    write_idx(tmp_path / "t10k-images-idx3-ubyte.gz", rng.integers(0, 256, (6, 28, 28)))
    write_idx(tmp_path / "t10k-labels-idx1-ubyte.gz", np.arange(6) % 10)
    return tmp_path


def test_idx_dataset_loads_from_a_catalog_entry(fashion_dir):
    catalog = DataCatalog.from_config(
        {
            "labels": {
                "type": "ovmlr.datasets.IDXDataset",
                "filepath": str(fashion_dir / "t10k-labels-idx1-ubyte.gz"),
            }
        }
    )
    assert catalog.load("labels").tolist() == [0, 1, 2, 3, 4, 5]


def test_idx_dataset_errors_name_the_file_and_it_is_read_only(tmp_path):
    path = tmp_path / "broken.gz"
    path.write_bytes(gzip.compress(b"\x00\x00\x08\x01\x00\x00\x00\x05\x01\x02"))
    with pytest.raises(DatasetError, match=r"broken\.gz: header declares shape \(5,\)"):
        IDXDataset(str(path)).load()
    with pytest.raises(DatasetError, match="IDX file not found: .*absent.gz"):
        IDXDataset(str(tmp_path / "absent.gz")).load()
    with pytest.raises(DatasetError, match="IDXDataset is read-only"):
        IDXDataset(str(path)).save(np.zeros(3))


def test_fashion_mnist_dataset_loads_the_four_files(fashion_dir):
    release = FashionMNISTDataset(str(fashion_dir)).load()
    assert release.train_images.shape == (12, 28, 28) and release.test_labels.shape == (6,)
    assert FashionMNISTDataset(str(fashion_dir)).exists()


def test_fashion_mnist_pair_with_different_counts_names_both_files(fashion_dir):
    write_idx(fashion_dir / "t10k-labels-idx1-ubyte.gz", np.arange(5))
    with pytest.raises(
        DatasetError, match=r"t10k-images-idx3-ubyte\.gz holds 6 images but .*t10k-labels-idx1-ubyte\.gz 5"
    ):
        FashionMNISTDataset(str(fashion_dir)).load()


def test_fashion_mnist_images_must_be_3d(fashion_dir):
    write_idx(fashion_dir / "train-images-idx3-ubyte.gz", np.zeros((12, 784)))
    with pytest.raises(DatasetError, match=r"train-images-idx3-ubyte\.gz: expected uint8 images \[N, h, w\]"):
        FashionMNISTDataset(str(fashion_dir)).load()


def test_fashion_mnist_missing_file_and_unknown_key(fashion_dir):
    (fashion_dir / "train-labels-idx1-ubyte.gz").unlink()
    assert not FashionMNISTDataset(str(fashion_dir)).exists()
    with pytest.raises(DatasetError, match="IDX file not found: .*train-labels-idx1-ubyte.gz"):
        FashionMNISTDataset(str(fashion_dir)).load()
    with pytest.raises(DatasetError, match=r"unknown file key\(s\) \['val_images'\]"):
        FashionMNISTDataset(str(fashion_dir), files={"val_images": "x"})
