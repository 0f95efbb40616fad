"""The stage's configuration in conf/base builds: catalog entries, parameters, runtime overrides."""

from __future__ import annotations

from pathlib import Path

import pytest
from kedro.config import OmegaConfigLoader
from kedro.io import DataCatalog

from ovmlr.datasets import LLMBackendDataset, ShardedParquetDataset
from ovmlr.llm.local_backend import SMOLLM2_FILE
from ovmlr.relations.config import LLMQueryConfig
from ovmlr.settings import CONFIG_LOADER_ARGS

CONF = Path(__file__).resolve().parents[3] / "conf"
ENTRIES = [
    "llm_backend",
    "llm_response_cache_before",
    "llm_response_cache",
    "relation_edges",
    "category_neighbours",
    "relation_parse_report",
    "relation_graph_plot",
    "relation_graphs_compared",
    "relation_source_overlap",
]


def stage_catalog(runtime_params: dict | None = None) -> DataCatalog:
    loader = OmegaConfigLoader(str(CONF), runtime_params=runtime_params or {}, **CONFIG_LOADER_ARGS)
    catalog = loader["catalog"]
    return DataCatalog.from_config({name: catalog[name] for name in ENTRIES})


def test_default_catalog_is_the_offline_local_backend_and_one_cache_folder():
    catalog = stage_catalog()
    backend = catalog.load("llm_backend")
    assert backend.model_id == SMOLLM2_FILE and backend._server is None
    before, after = catalog.get("llm_response_cache_before"), catalog.get("llm_response_cache")
    assert isinstance(before, ShardedParquetDataset) and before.path == after.path == Path(
        "data/02_intermediate/llm_responses"
    )


def test_runtime_params_switch_to_an_openai_compatible_endpoint():
    catalog = stage_catalog(
        {
            "llm_backend": "openai",
            "llm_base_url": "http://127.0.0.1:11434/v1",
            "llm_model": "qwen2.5:7b",
            "llm_api_key_required": False,
        }
    )
    backend = catalog.load("llm_backend")
    assert (backend.model_id, backend.base_url, backend.max_concurrency) == (
        "qwen2.5:7b",
        "http://127.0.0.1:11434/v1",
        4,
    )
    assert backend.client().api_key == "not-needed"
    assert isinstance(catalog.get("llm_backend"), LLMBackendDataset)


@pytest.mark.parametrize(("env", "source", "k"), [(None, "similarity", 4), ("fashion_mnist", "llm", 3)])
def test_parameters_are_valid(env, source, k):
    params = OmegaConfigLoader(str(CONF), env=env, **CONFIG_LOADER_ARGS)["parameters"]["relation_mining"]
    config = LLMQueryConfig.from_params(params["llm"])
    assert (params["source"], params["k"], params["fallback"], config.n_queries, config.output_format) == (
        source,
        k,
        "similarity",
        3,
        "json",
    )
    assert params["plot"] == {
        "target": None,
        "compare_sources": ["cooccurrence", "similarity", "wordnet", "llm"],
        "compare_targets": None,
        "compare_max_targets": 3,
    }


@pytest.mark.parametrize("path", ["conf/base/credentials.yml"])
def test_no_credentials_in_base(path):
    assert not (CONF.parent / path).exists()
