"""Project hooks: configuration checks that must fail before any node runs."""

from __future__ import annotations

from typing import Any

from kedro.framework.hooks import hook_impl

from ovmlr.backbones.ray_engine import check_engine
from ovmlr.training.distributed import check_distributed
from ovmlr.training.recipe import TrainingRecipe


class ConfigurationChecks:
    """Refuses a bad scale-out configuration before the run starts (the node re-checks it when it runs)."""

    @hook_impl
    def before_pipeline_run(self, run_params: dict[str, Any], pipeline: Any, catalog: Any) -> None:
        node_names = {node.name for node in pipeline.nodes}
        if "feature_extraction.extract_image_embeddings_node" in node_names:
            check_engine(catalog.load("params:feature_extraction"))
        if "training.train_c2srt_node" in node_names:
            recipe = TrainingRecipe.from_params(catalog.load("params:training"))
            check_distributed(recipe.distributed, recipe.loop)
