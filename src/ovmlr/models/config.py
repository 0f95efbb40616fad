"""Typed C²SRT architecture configs and the JSON files that define them (``model_configs/<name>.json``).

A JSON file's keys map one-to-one onto the dataclasses below; Kedro parameters pick a file by name and
override single fields (``{"use_ist": false}``, ``{"isr": {"alpha": 0.3}}`` or ``{"isr.alpha": 0.3}``).
Unknown keys are errors, never ignored.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, is_dataclass
from importlib import resources
from typing import Any, get_args, get_type_hints

ISR_POOLINGS = ("mean", "weighted")
IST_IMPLEMENTATIONS = ("lean", "dense", "pyg")


@dataclass(frozen=True)
class ISRConfig:
    """Intra-category semantic refinement (Sec. 3.3, Algorithm 1)."""

    alpha: float = 0.5  # α: stop once the selected patches' softmax mass reaches α (paper: 0.5)
    max_patches: int = 32  # N: at most this many patches per category (paper: 32 of 196)
    temperature: float | None = (
        None  # multiplies the cosines before the patch softmax; None → backbone logit scale
    )
    pooling: str = (
        "mean"  # "mean" of the selected patches, or "weighted" by their renormalised softmax scores
    )
    chunk_size: int | None = (
        None  # categories per chunk (bounds the [B, C, P] temporaries); None → all at once
    )
    # alpha: Algorithm 1 (adaptive count); top_k: exactly N = max_patches patches per category (MKT's fixed
    # top-k, the comparison of Fig. 6a: which fixed k each category would have preferred)
    selection: str = "alpha"

    def __post_init__(self) -> None:
        if self.selection not in ("alpha", "top_k"):
            raise ValueError(f"isr.selection must be 'alpha' or 'top_k', got {self.selection!r}")
        if not 0.0 <= self.alpha <= 1.0:
            raise ValueError(f"isr.alpha must be in [0, 1], got {self.alpha}")
        if self.max_patches < 1:
            raise ValueError(f"isr.max_patches must be >= 1, got {self.max_patches}")
        if self.temperature is not None and self.temperature <= 0:
            raise ValueError(f"isr.temperature must be > 0 or null, got {self.temperature}")
        if self.pooling not in ISR_POOLINGS:
            raise ValueError(f"isr.pooling must be one of {ISR_POOLINGS}, got {self.pooling!r}")
        if self.chunk_size is not None and self.chunk_size < 1:
            raise ValueError(f"isr.chunk_size must be >= 1 or null, got {self.chunk_size}")


@dataclass(frozen=True)
class ISTConfig:
    """Inter-category semantic transfer (Sec. 3.4, Supplement B.1): FFN_in then multi-head GATv2 layers."""

    implementation: str = "lean"  # "lean" (fastest, per-image work once), "dense" gather or "pyg" GATv2Conv
    layers: int = 2  # l: stacked GATv2 layers (paper: 2)
    heads: int = 8  # H: attention heads per layer, concatenated (Eq. 23; the paper does not give H)
    hidden_dim: int = 512  # width of FFN_in and of the hidden GATv2 layers (last layer outputs embed_dim)
    dropout: float = 0.1  # dropout inside FFN_in and between GATv2 layers
    attention_dropout: float = 0.0  # dropout on the normalised attention coefficients α_ij
    negative_slope: float = 0.2  # LeakyReLU slope inside the GATv2 score (Eq. 20)
    chunk_size: int | None = None  # dense only: categories per checkpointed chunk (saves memory); None → off
    compile: bool = False  # dense only: torch.compile the attention (fused loops; see DenseGATv2Conv)

    def __post_init__(self) -> None:
        if self.implementation not in IST_IMPLEMENTATIONS:
            raise ValueError(
                f"ist.implementation must be one of {IST_IMPLEMENTATIONS}, got {self.implementation!r}"
            )
        if self.layers < 1 or self.heads < 1 or self.hidden_dim < 1:
            raise ValueError(f"ist.layers, ist.heads, ist.hidden_dim must be >= 1, got {self}")
        if self.hidden_dim % self.heads:
            raise ValueError(
                f"ist.hidden_dim ({self.hidden_dim}) must be divisible by ist.heads ({self.heads})"
            )
        if self.compile and self.implementation != "dense":
            raise ValueError(f"ist.compile needs implementation 'dense', got {self.implementation!r}")
        if self.chunk_size is not None and (self.chunk_size < 1 or self.implementation != "dense"):
            raise ValueError(f"ist.chunk_size must be null or >= 1 with implementation 'dense', got {self}")
        for name in ("dropout", "attention_dropout"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise ValueError(f"ist.{name} must be in [0, 1), got {getattr(self, name)}")


@dataclass(frozen=True)
class ScoreConfig:
    """Prediction score of Eq. (10): ``scale · cos(h_l^(c), f_txt^(c))``."""

    scale: float = (
        1.0  # initial (or fixed) multiplier of the cosine; the ranking margin of 1 acts on scale·cos
    )
    learnable: bool = (
        False  # True: learn log(scale); note a hinge loss can then be lowered by growing the scale
    )
    # w of the inference-time zero-shot ensemble (prediction.zero_shot_ensemble): in eval mode the score is
    # (1 - w)·cos(h_l, f_txt) + w·cos(f_G, f_txt); training (Eq. 11) sees w = 0. 0 → the paper's Eq. (10).
    # An output-space ensemble with the backbone's zero-shot classifier (WiSE-FT, Wortsman et al., CVPR 2022;
    # ViLD-ensemble, Gu et al., ICLR 2022): a head fitted to few seen categories ranks unseen ones worse than
    # zero-shot CLIP does; the ensemble keeps CLIP's ranking as a prior. 0 in every shipped config (the
    # paper); choose it on validation data with training.selection.zero_shot_weights (class-disjoint: the
    # unseen categories are never read), as conf/fashion_mnist does.
    zero_shot_weight: float = 0.0

    def __post_init__(self) -> None:
        if self.scale <= 0:
            raise ValueError(f"score.scale must be > 0, got {self.scale}")
        if not 0.0 <= self.zero_shot_weight <= 1.0:
            raise ValueError(f"score.zero_shot_weight must be in [0, 1], got {self.zero_shot_weight}")


@dataclass(frozen=True)
class C2SRTConfig:
    """The C²SRT head: everything after the image features (ISR → IST → Eq. 10 scores)."""

    embed_dim: int = 512  # D: joint image-text feature dimension of the backbone (ViT-B/16 CLIP: 512)
    # c2srt: ISR → IST → Eq. 10 | mkt: MKT's two-stream score (global + top-k patches; He et al. 2023), the
    # Table 1 baseline: no head parameter, trained through the student encoder (finetune) with the same losses
    head: str = "c2srt"
    mkt_k: int = 16  # mkt: patches averaged per category (MKT: 16 of 196; capped at P)
    # cosine | pico: every image-text comparison of the head (ISR's patch scores, Eq. 10, the zero-shot
    # term) is PICO's weighted cosine, a cosine after scaling dimension d by sqrt(w_d) (alignment.pico);
    # w is fitted on the training split before training (training.pico) and kept in the head's state
    alignment: str = "cosine"
    use_isr: bool = True  # False: f_img^(c) = f_G for every category (ablation, Table 3)
    use_ist: bool = True  # False: score = cos(f_img^(c), f_txt^(c)) (ablation, Table 3)
    isr: ISRConfig = field(default_factory=ISRConfig)
    ist: ISTConfig = field(default_factory=ISTConfig)
    score: ScoreConfig = field(default_factory=ScoreConfig)

    def __post_init__(self) -> None:
        if self.alignment not in ("cosine", "pico"):
            raise ValueError(f"alignment must be 'cosine' or 'pico', got {self.alignment!r}")
        if self.head not in ("c2srt", "mkt"):
            raise ValueError(f"head must be 'c2srt' or 'mkt', got {self.head!r}")
        if self.mkt_k < 1:
            raise ValueError(f"mkt_k must be >= 1, got {self.mkt_k}")
        if self.embed_dim < 1:
            raise ValueError(f"embed_dim must be >= 1, got {self.embed_dim}")
        if self.use_ist and self.embed_dim % self.ist.heads:
            raise ValueError(
                f"embed_dim ({self.embed_dim}) must be divisible by ist.heads ({self.ist.heads})"
            )


def deep_merge(base: Mapping[str, Any], update: Mapping[str, Any]) -> dict[str, Any]:
    """A new dict: ``base`` with ``update`` applied recursively (nested dicts merge, other values replace)."""
    merged = dict(base)
    for key, value in update.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _nested_overrides(overrides: Mapping[str, Any]) -> dict[str, Any]:
    """Turn dotted keys (``"isr.alpha": 0.3``) into nested dicts, merged with nested ones."""
    nested: dict[str, Any] = {}
    for key, value in overrides.items():
        wrapped = value
        for part in reversed(str(key).split(".")):
            wrapped = {part: wrapped}
        nested = deep_merge(nested, wrapped)
    return nested


def _check_type(value: Any, hint: Any, where: str) -> None:
    """Raise if ``value`` does not match a scalar type hint (bool, int, float, str, ``X | None``)."""
    allowed = get_args(hint) if get_args(hint) else (hint,)
    if value is None and type(None) in allowed:
        return
    ok = any(
        (t is bool and isinstance(value, bool))
        or (t is int and isinstance(value, int) and not isinstance(value, bool))
        or (t is float and isinstance(value, int | float) and not isinstance(value, bool))
        or (t is str and isinstance(value, str))
        for t in allowed
    )
    if not ok:
        raise ValueError(f"{where} must be of type {hint}, got {value!r}")


def _build(cls: type, values: Mapping[str, Any], where: str) -> Any:
    """Instantiate dataclass ``cls`` from a dict, recursing into nested dataclasses; unknown keys raise."""
    hints = get_type_hints(cls)
    unknown = sorted(set(values) - set(hints))
    if unknown:
        raise ValueError(f"Unknown C2SRTConfig key(s) {unknown} in {where}; valid keys: {sorted(hints)}")
    kwargs = {}
    for name, value in values.items():
        hint = hints[name]
        if is_dataclass(hint):
            if not isinstance(value, Mapping):
                raise ValueError(f"{where}.{name} must be a mapping of {hint.__name__} fields, got {value!r}")
            kwargs[name] = _build(hint, value, f"{where}.{name}")
        else:
            _check_type(value, hint, f"{where}.{name}")
            kwargs[name] = value
    return cls(**kwargs)


def config_from_dict(values: dict[str, Any], where: str = "config") -> C2SRTConfig:
    """Build a :class:`C2SRTConfig` from a (possibly partial) dict of fields; missing fields take defaults."""
    return _build(C2SRTConfig, values, where)


def config_to_dict(config: C2SRTConfig) -> dict[str, Any]:
    """Plain-dict (JSON-serialisable) form of a config, the inverse of :func:`config_from_dict`."""
    return asdict(config)


def list_model_configs() -> list[str]:
    """Names of the shipped configs (``model_configs/*.json`` without the extension)."""
    folder = resources.files("ovmlr.models") / "model_configs"
    return sorted(p.name.removesuffix(".json") for p in folder.iterdir() if p.name.endswith(".json"))


def load_model_config(name: str, overrides: dict[str, Any] | None = None) -> C2SRTConfig:
    """Read ``model_configs/<name>.json`` and apply ``overrides``.

    Args:
        name: Config name, e.g. ``"c2srt"`` (paper) or ``"c2srt_small"`` (demo backbone).
        overrides: Field overrides, nested (``{"isr": {"alpha": 0.3}}``) or dotted (``{"isr.alpha": 0.3}``).

    Returns:
        The validated config.

    Raises:
        ValueError: If the name is not shipped, or a key or value is invalid.
    """
    path = resources.files("ovmlr.models") / "model_configs" / f"{name}.json"
    if not path.is_file():
        raise ValueError(f"Unknown model config '{name}'; available: {list_model_configs()}")
    base = json.loads(path.read_text(encoding="utf-8"))
    merged = deep_merge(base, _nested_overrides(overrides or {}))
    return config_from_dict(merged, where=f"model config '{name}'")
