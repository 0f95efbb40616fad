"""Log a trained model as an MLflow model, register it and move its aliases.

The logged model is :class:`~ovmlr.trained.pyfunc.TrainedC2SRTPyfunc` as *models from code*, with the
:class:`~ovmlr.trained.model.TrainedC2SRT` folder (safetensors, JSON, parquet) as its artifact and a
model card (``MODEL_CARD.md``, also logged to the run as ``model_card.md``). ``load`` gives the
:class:`TrainedC2SRT` of ``models:/<name>@<alias>``.

Every saved version gets the alias ``candidate``. ``champion`` moves to it only when its validation metric
beats the current champion's (higher is better), when there is no champion yet, or when the request says
``force_champion``. Only like is compared with like: a champion trained on another dataset, or selected by
another metric, is never compared (the new version is not promoted, and the reason says why). The decision
and its reason are logged and set as tags on the version and on the run.
"""

from __future__ import annotations

import logging
import math
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import mlflow
from kedro.io import AbstractDataset, DatasetError
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from ovmlr.multimodal import pyfunc as cscf_pyfunc
from ovmlr.multimodal.trained import TrainedCSCF, save_cscf
from ovmlr.trained import pyfunc as c2srt_pyfunc
from ovmlr.trained.artifact import save_trained
from ovmlr.trained.model import TrainedC2SRT

logger = logging.getLogger(__name__)

VAL_METRIC_TAG = "ovmlr.selection_metric"
VAL_VALUE_TAG = "ovmlr.selection_value"
DATASET_TAG = "ovmlr.dataset"


@dataclass(frozen=True)
class Flavour:
    """How one kind of trained model is logged: type, folder writer, entry point, signature, description."""

    model_type: type
    save: Callable[[Any, str], Any]
    artifact_key: str
    entry_point: Callable[[], str]
    signature: Callable[[], Any]
    description: str


FLAVOURS = {
    "c2srt": Flavour(
        TrainedC2SRT,
        save_trained,
        c2srt_pyfunc.ARTIFACT_KEY,
        c2srt_pyfunc.entry_point,
        c2srt_pyfunc.model_signature,
        "ovmlr C²SRT models trained on dataset '{dataset}'. Input: images (base64 'image' or 'path' column); "
        "params: labels (any names), top_k. See each version's MODEL_CARD.md.",
    ),
    "cscf": Flavour(
        TrainedCSCF,
        save_cscf,
        cscf_pyfunc.ARTIFACT_KEY,
        cscf_pyfunc.entry_point,
        cscf_pyfunc.model_signature,
        "ovmlr CSCF multimodal models trained on dataset '{dataset}'. Input: one feature-vector column per "
        "modality (a missing cell: modality absent); params: method, top_k. "
        "See each version's MODEL_CARD.md.",
    ),
}


@dataclass(frozen=True)
class ModelRegistration:
    """What a node hands to :class:`MlflowRegisteredModelDataset` to save.

    Attributes:
        trained: The trained model.
        dataset: The dataset it was trained on (champions are compared within one dataset only).
        selection_metric: Name of the validation metric that decides the champion.
        selection_value: Its value for this model (higher is better).
        description: Text of the model version (dataset, split, test metrics).
        model_card: Markdown model card (dataset, backbone, vocabulary, metrics).
        force_champion: Make this version champion whatever the comparison says.
        tags: Extra model-version tags.
    """

    trained: TrainedC2SRT | TrainedCSCF
    dataset: str
    selection_metric: str
    selection_value: float
    description: str = ""
    model_card: str = ""
    force_champion: bool = False
    tags: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ChampionFacts:
    """What the current champion was selected by: dataset, metric and value (``None`` when untagged)."""

    dataset: str | None
    metric: str | None
    value: float | None


def champion_decision(  # noqa: PLR0911 - one return per documented case
    new_value: float,
    champion: ChampionFacts | None,
    force: bool,
    dataset: str | None = None,
    metric: str | None = None,
) -> tuple[bool, str]:
    """Whether a new version becomes champion, and why (higher metric is better, like with like only)."""
    if force:
        return True, "forced by parameter"
    if champion is None or champion.value is None:
        return True, "no champion yet"
    if dataset is not None and champion.dataset not in (None, dataset):
        return False, (
            f"not compared: the champion was trained on dataset {champion.dataset!r}, this model on "
            f"{dataset!r} (use one registered model name per dataset, or force_champion)"
        )
    if metric is not None and champion.metric not in (None, metric):
        return (
            False,
            f"not compared: the champion was selected by {champion.metric!r}, this model by {metric!r}",
        )
    if math.isnan(new_value):
        return False, "new selection metric is NaN"
    same = f" (val {metric}, dataset {dataset})" if metric and dataset else ""
    if new_value > champion.value:
        return True, f"{new_value:.4f} > champion's {champion.value:.4f}{same}"
    return False, f"{new_value:.4f} <= champion's {champion.value:.4f}{same}"


def registered_version(uri: str) -> dict[str, str] | None:
    """``{"name", "version"}`` of a ``models:/<name>/<version>`` or ``models:/<name>@<alias>`` URI (the alias
    resolved in the registry now); ``None`` for any other URI.

    Raises:
        DatasetError: The alias does not exist.
    """
    if not uri.startswith("models:/"):
        return None
    path = uri.removeprefix("models:/")
    if "@" in path:
        name, alias = path.split("@", 1)
        try:
            return {
                "name": name,
                "version": str(MlflowClient().get_model_version_by_alias(name, alias).version),
            }
        except MlflowException as exc:
            raise DatasetError(f"'{uri}': the registry has no alias {alias!r} of {name!r}: {exc}") from exc
    name, _, version = path.rpartition("/")
    return {"name": name, "version": version} if name and version.isdigit() else None


class MlflowRegisteredModelDataset(AbstractDataset[ModelRegistration, Any]):
    """Saves a :class:`ModelRegistration` as a registered model version; loads ``models:/name@alias``.

    Example catalog entry::

        c2srt_registered_model:
          type: ovmlr.datasets.MlflowRegisteredModelDataset
          model_name: ovmlr-c2srt

    Args:
        model_name: Registered model name.
        load_alias: Alias loaded by ``load`` (default ``champion``).
        candidate_alias: Alias every new version receives.
        champion_alias: Alias of the best version so far.
        artifact_name: Name of the logged model inside the run.
        model_uri: Load this model instead (``models:/<name>/<version>``, ``runs:/…``, a local folder);
            ``None``: ``models:/<model_name>@<load_alias>``.
        flavour: ``c2srt`` (:class:`TrainedC2SRT`, images in) or ``cscf`` (:class:`TrainedCSCF`, features in).
        text_cache_dir: A C²SRT model keeps new names' text features there (``TrainedC2SRT.use_text_cache``:
            each name encoded once across runs); ``None``: no cache.
        optional: Load ``None`` when no ``model_uri`` is given, instead of the ``load_alias`` version (the
            parent of a fine-tuning run: none unless the command line names one).
        metadata: Kedro-Viz and plugin metadata, ignored here.

    A loaded model's ``info`` gets ``model_uri`` and ``registered_model`` (``name`` and ``version``, resolved
    from the alias for ``models:/<name>@<alias>``; ``None`` for a URI outside the registry).
    """

    def __init__(  # noqa: PLR0913 - a Kedro dataset: one keyword per catalog entry key
        self,
        model_name: str,
        load_alias: str = "champion",
        candidate_alias: str = "candidate",
        champion_alias: str = "champion",
        artifact_name: str = "model",
        model_uri: str | None = None,
        flavour: str = "c2srt",
        text_cache_dir: str | None = None,
        optional: bool = False,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        if flavour not in FLAVOURS:
            raise DatasetError(
                f"MlflowRegisteredModelDataset flavour must be one of {sorted(FLAVOURS)}, got {flavour!r}"
            )
        self._flavour = FLAVOURS[flavour]
        self._model_uri = model_uri
        self._optional = bool(optional)
        self._loaded: tuple[str, Any] | None = None
        self._model_name = model_name
        self._load_alias = load_alias
        self._candidate_alias = candidate_alias
        self._champion_alias = champion_alias
        self._artifact_name = artifact_name
        self._text_cache_dir = text_cache_dir
        self.metadata = metadata
        self.last_version: str | None = None

    def _load(self) -> Any:
        if self._optional and not self._model_uri:
            return None
        uri = self._model_uri or f"models:/{self._model_name}@{self._load_alias}"
        if self._loaded is not None and self._loaded[0] == uri:
            return self._loaded[1]  # one model object per run: its backbone is loaded once
        try:
            model = mlflow.pyfunc.load_model(uri)
        except MlflowException as exc:
            raise DatasetError(f"Cannot load '{uri}' from the MLflow registry: {exc}") from exc
        except (ModuleNotFoundError, ImportError, AttributeError) as exc:
            raise DatasetError(
                f"'{uri}' was logged by an older ovmlr whose model code no longer exists ({exc}): evaluate "
                "another version (--params evaluated_model_alias=candidate, or predict.model_uri=models:/"
                "<name>/<version>), or retrain and promote it with training.registry.force_champion=true"
            ) from exc
        trained = getattr(model.unwrap_python_model(), "trained", None)
        if not isinstance(trained, self._flavour.model_type):
            raise DatasetError(
                f"'{uri}' is not an ovmlr {self._flavour.model_type.__name__} "
                "(another kind of model, or logged "
                "before this format?): retrain it with its pipeline"
            )
        trained.info["model_uri"] = uri
        if self._text_cache_dir is not None and isinstance(trained, TrainedC2SRT):
            trained.use_text_cache(self._text_cache_dir)
        trained.info["registered_model"] = registered_version(uri)
        self._loaded = (uri, trained)
        return trained

    def _champion(self, client: MlflowClient) -> ChampionFacts | None:
        try:
            version = client.get_model_version_by_alias(self._model_name, self._champion_alias)
        except MlflowException:
            return None
        value = version.tags.get(VAL_VALUE_TAG)
        return ChampionFacts(
            version.tags.get(DATASET_TAG),
            version.tags.get(VAL_METRIC_TAG),
            float(value) if value is not None else None,
        )

    def _save(self, data: ModelRegistration) -> None:
        started = mlflow.active_run() is None
        if started:
            mlflow.start_run(run_name=f"register-{self._model_name}")
        try:
            self._register(data)
        finally:
            if started:
                mlflow.end_run()

    def _log_model(self, data: ModelRegistration) -> Any:
        with tempfile.TemporaryDirectory(prefix="ovmlr-model-") as tmp:
            flavour = self._flavour
            if not isinstance(data.trained, flavour.model_type):
                raise DatasetError(
                    f"{self._model_name}: expected a {flavour.model_type.__name__}, "
                    f"got {type(data.trained).__name__}"
                )
            folder = Path(flavour.save(data.trained, f"{tmp}/{flavour.artifact_key}"))
            (folder / "MODEL_CARD.md").write_text(data.model_card, encoding="utf-8")
            info = mlflow.pyfunc.log_model(
                name=self._artifact_name,
                python_model=flavour.entry_point(),
                artifacts={flavour.artifact_key: str(folder)},
                signature=flavour.signature(),
                pip_requirements=c2srt_pyfunc.model_requirements(),
                code_paths=c2srt_pyfunc.model_code_paths(),
                registered_model_name=self._model_name,
            )
        if data.model_card:
            mlflow.log_text(data.model_card, "model_card.md")
        return info

    def _register(self, data: ModelRegistration) -> None:
        client = MlflowClient()
        champion = self._champion(client)
        info = self._log_model(data)
        version = str(info.registered_model_version)
        self.last_version = version
        client.update_model_version(self._model_name, version, description=data.description)
        client.update_registered_model(
            self._model_name,
            description=self._flavour.description.format(dataset=data.dataset),
        )
        tags = {
            VAL_METRIC_TAG: data.selection_metric,
            VAL_VALUE_TAG: repr(float(data.selection_value)),
            DATASET_TAG: data.dataset,
        }
        for key, value in {**data.tags, **tags}.items():
            client.set_model_version_tag(self._model_name, version, key, str(value))
        client.set_registered_model_alias(self._model_name, self._candidate_alias, version)
        promote, reason = champion_decision(
            data.selection_value, champion, data.force_champion, data.dataset, data.selection_metric
        )
        if promote:
            client.set_registered_model_alias(self._model_name, self._champion_alias, version)
        verdict = "promoted to" if promote else "not promoted to"
        message = f"{self._model_name} v{version} {verdict} '{self._champion_alias}': {reason}"
        logger.info(message)
        client.set_model_version_tag(self._model_name, version, "ovmlr.champion_decision", message)
        mlflow.set_tag("ovmlr.champion_decision", message)

    def _describe(self) -> dict[str, Any]:
        return {
            "model_name": self._model_name,
            "load_alias": self._load_alias,
            "candidate_alias": self._candidate_alias,
            "champion_alias": self._champion_alias,
            "model_uri": self._model_uri,
            "optional": self._optional,
        }
