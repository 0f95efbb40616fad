"""The training recipe: ``params:training`` parsed once into one frozen object that every caller passes on.

The training pipeline parses it in one node (``parse_training_recipe``), the ablation runner once per row,
the pre-run hook once; nothing below re-reads the parameter dicts.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from ovmlr.alignment.pico import PICOConfig
from ovmlr.core.params import known_fields
from ovmlr.core.thresholds import ThresholdRule
from ovmlr.core.vocabulary import text_prompt

from .distributed import DistributedConfig
from .finetune import FinetuneConfig
from .loop import TrainingConfig
from .protocol import SelectionConfig


@dataclass(frozen=True)
class ModelParams:
    """``training.model``: a packaged head config by name, field overrides, the alignment switch."""

    config: str = "c2srt"  # src/ovmlr/models/model_configs/<config>.json
    alignment: str | None = None  # cosine | pico (globals.yml); an explicit override wins
    overrides: Mapping[str, Any] = field(default_factory=dict)  # any C2SRTConfig field

    def to_dict(self) -> dict[str, Any]:
        """As the model factory reads it (:func:`ovmlr.core.model_factory.resolve_model_config`)."""
        return {"config": self.config, "alignment": self.alignment, "overrides": dict(self.overrides)}


@dataclass(frozen=True)
class RegistryConfig:
    """``training.registry``: the dataset name kept with the model, and the champion policy."""

    dataset: str = "?"
    force_champion: bool = False  # make this version champion whatever its validation metric


INIT_VOCABULARIES = ("keep", "drop")


@dataclass(frozen=True)
class InitParams:
    """``training.init``: fine-tune from a registered model instead of a freshly initialised head.

    The model itself is the catalog's ``training_init_model``, which reads the same ``model_uri`` from the
    command line (``--params training.init.model_uri=models:/<name>@champion``).
    """

    model_uri: str | None = (
        None  # models:/<name>@<alias> or models:/<name>/<version>; null: train from scratch
    )
    vocabulary: str = "keep"  # keep: the new model also knows the parent's labels; drop: only this dataset's

    def __post_init__(self) -> None:
        if self.vocabulary not in INIT_VOCABULARIES:
            raise ValueError(
                f"training.init.vocabulary must be one of {INIT_VOCABULARIES}, got {self.vocabulary!r}"
            )
        if self.model_uri is not None and (not isinstance(self.model_uri, str) or not self.model_uri.strip()):
            raise ValueError(f"training.init.model_uri must be a model URI or null, got {self.model_uri!r}")


SECTIONS = (
    "prompt",
    "loop",
    "model",
    "selection",
    "finetune",
    "pico",
    "distributed",
    "registry",
    "thresholds",
    "init",
)


@dataclass(frozen=True)
class TrainingRecipe:
    """Everything ``params:training`` says, typed and checked.

    Attributes:
        prompt: ``__ensemble__`` (Eq. 24), one template, or ``__coop__`` (an ablation row's learned prompt).
        loop: The optimisation (mode frozen | finetune, epochs, batch, device, precision, ...).
        model: Which head config, with overrides.
        selection: The protocol choosing the epoch and the zero-shot weight.
        finetune: The student encoder's settings (finetune mode).
        pico: PICO's weights (``alignment: pico``).
        distributed: DDP through torchrun.
        registry: The dataset's name and the champion policy.
        thresholds: How the decision thresholds of the tags are chosen on validation data.
        init: The registered model to fine-tune from, and whether its vocabulary is kept.
    """

    prompt: str = "__ensemble__"
    loop: TrainingConfig = field(default_factory=TrainingConfig)
    model: ModelParams = field(default_factory=ModelParams)
    selection: SelectionConfig = field(default_factory=SelectionConfig)
    finetune: FinetuneConfig = field(default_factory=FinetuneConfig)
    pico: PICOConfig = field(default_factory=PICOConfig)
    distributed: DistributedConfig = field(default_factory=DistributedConfig)
    registry: RegistryConfig = field(default_factory=RegistryConfig)
    thresholds: ThresholdRule = field(default_factory=ThresholdRule)
    init: InitParams = field(default_factory=InitParams)

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> TrainingRecipe:
        """From ``params:training``; every section checked for unknown keys (named in the message)."""
        values = known_fields(params, SECTIONS, "training")
        return cls(
            prompt=str(values.get("prompt", "__ensemble__")),
            loop=TrainingConfig.from_params(values.get("loop") or {}),
            model=ModelParams(
                **known_fields(values.get("model"), ("config", "alignment", "overrides"), "training.model")
            ),
            selection=SelectionConfig.from_params(values.get("selection")),
            finetune=FinetuneConfig.from_params(values.get("finetune")),
            pico=PICOConfig.from_params(values.get("pico")),
            distributed=DistributedConfig.from_params(values.get("distributed")),
            registry=RegistryConfig(
                **known_fields(values.get("registry"), ("dataset", "force_champion"), "training.registry")
            ),
            thresholds=ThresholdRule.from_params(values.get("thresholds")),
            init=InitParams(**known_fields(values.get("init"), ("model_uri", "vocabulary"), "training.init")),
        )

    @property
    def text_prompt(self) -> str:
        """The fixed prompt that gives new names their text features (``core.vocabulary.text_prompt``)."""
        return text_prompt(self.prompt)

    def run_parts(self) -> tuple[Any, ...]:
        """The recipe's part of a run's fingerprint: the loop (``resume`` aside), the student's settings in
        finetune mode, PICO's in ``pico`` alignment is added by the caller that knows the head's alignment."""
        loop = asdict(self.loop) | {"resume": None}
        return loop, asdict(self.finetune) if self.loop.mode == "finetune" else None
