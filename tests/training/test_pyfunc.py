from importlib.metadata import version
from pathlib import Path

import numpy as np
import pytest

from ovmlr.training.pyfunc import features_to_frame, model_code_paths, model_requirements


def test_model_requirements_pin_the_installed_versions():
    requirements = dict(r.split("==") for r in model_requirements())
    assert requirements["torch"] == version("torch")
    assert {"torch_geometric", "numpy", "pandas"} <= set(requirements)


def test_model_code_paths_is_the_ovmlr_package():
    (path,) = model_code_paths()
    assert Path(path).name == "ovmlr" and (Path(path) / "training" / "pyfunc.py").exists()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_features_to_frame_flattens_patches_row_major(dtype):
    g = np.arange(6, dtype=np.float32).reshape(2, 3)
    p = np.arange(24, dtype=np.float32).reshape(2, 4, 3)
    frame = features_to_frame(g, p, dtype=dtype)
    assert list(frame.columns) == ["global_feature", "patch_features"]
    assert frame["patch_features"][1].dtype == dtype
    np.testing.assert_array_equal(frame["patch_features"][1], p[1].reshape(-1))
    np.testing.assert_array_equal(frame["global_feature"][0], g[0])
