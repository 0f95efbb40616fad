"""The frozen vision-language backbone (CLIP via open_clip): spec, loading, features, demo backbone, student.

Shape letters: B images, C categories, P patches, D joint feature dim, T prompt templates.
"""

from .configs import register_model_config, register_packaged_configs
from .features import category_text_features, encode_image_tokens, ensemble_text_features
from .loading import BackboneWeightsUnavailable, LoadedBackbone, load_backbone
from .spec import BackboneSpec, compute_backbone_id
from .student import ManifestImageDataset, StudentImageEncoder

__all__ = [
    "BackboneSpec",
    "BackboneWeightsUnavailable",
    "LoadedBackbone",
    "ManifestImageDataset",
    "StudentImageEncoder",
    "category_text_features",
    "compute_backbone_id",
    "encode_image_tokens",
    "ensemble_text_features",
    "load_backbone",
    "register_model_config",
    "register_packaged_configs",
]
