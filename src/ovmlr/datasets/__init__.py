"""Custom Kedro datasets of ovmlr (persistence lives here, never in nodes)."""

from .atomic_table import AtomicTableDataset
from .sharded_parquet import ShardedParquetDataset

__all__ = ["AtomicTableDataset", "ShardedParquetDataset"]

# Raw-data datasets (data_processing / category_sets stages).
from .custom import CustomTagsDataset  # noqa: E402
from .fashion_mnist import FashionMNISTDataset  # noqa: E402
from .idx import IDXDataset  # noqa: E402
from .image_folder import ImageFolderDataset  # noqa: E402
from .name_list import NameListDataset  # noqa: E402
from .nus_wide import NusWideDataset  # noqa: E402
from .open_images import OpenImagesDataset  # noqa: E402
from .tagged_art import TaggedArtDataset  # noqa: E402

__all__ += [
    "CustomTagsDataset",
    "FashionMNISTDataset",
    "IDXDataset",
    "ImageFolderDataset",
    "NameListDataset",
    "NusWideDataset",
    "OpenImagesDataset",
    "TaggedArtDataset",
]

# The chat LLM of relation mining (relation_mining stage).
from .llm_backend import LLMBackendDataset  # noqa: E402

__all__ += ["LLMBackendDataset"]

# The backbone and feature_extraction stages: torch checkpoints and the image embedding cache.
from .embedding_cache import EmbeddingCacheDataset, EmbeddingStore  # noqa: E402
from .torch_state_dict import TorchStateDictDataset  # noqa: E402

__all__ += ["EmbeddingCacheDataset", "EmbeddingStore", "TorchStateDictDataset"]

# A trained model as one folder, and its MLflow registry entry (training, evaluation, predict stages).
from .trained_model import TrainedModelDataset  # noqa: E402

__all__ += ["TrainedModelDataset"]

# The export stage: the ONNX model of a trained model.
from .onnx_model import OnnxModelDataset  # noqa: E402

__all__ += ["OnnxModelDataset"]

# The demo backbone's shipped weights and manifest (backbone stage, `make backbone`).
from .shipped_backbone import ShippedBackboneDataset  # noqa: E402

__all__ += ["ShippedBackboneDataset"]
