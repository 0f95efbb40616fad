"""``LLMBackendDataset``: the catalog entry that yields the configured chat LLM."""

from __future__ import annotations

import pytest
from kedro.io import DatasetError

from ovmlr.datasets import LLMBackendDataset
from ovmlr.llm.local_backend import SMOLLM2_FILE, LocalLlamaBackend
from ovmlr.llm.openai_backend import OpenAIChatBackend


def test_local_backend_defaults_to_smollm2_without_loading_it():
    backend = LLMBackendDataset(backend="local", local={"n_threads": 1}).load()
    assert isinstance(backend, LocalLlamaBackend)
    assert (backend.model_id, backend.max_concurrency, backend._server) == (SMOLLM2_FILE, 1, None)


def test_openai_backend_takes_options_and_the_credentials_key():
    dataset = LLMBackendDataset(
        backend="openai",
        openai={"model": "gpt-4o", "base_url": "http://127.0.0.1:9/v1", "max_concurrency": 2},
        credentials={"api_key": "sk-secret"},
    )
    backend = dataset.load()
    assert isinstance(backend, OpenAIChatBackend)
    assert (backend.model_id, backend.max_concurrency, backend._client) == ("gpt-4o", 2, None)
    assert backend.client().api_key == "sk-secret"
    assert dataset.load() is backend  # one backend per dataset: a loaded model is shared by the nodes
    assert "sk-secret" not in str(dataset)


def test_unknown_backend_is_an_error():
    with pytest.raises(DatasetError, match=r"must be one of \('local', 'openai'\), got 'ollama'"):
        LLMBackendDataset(backend="ollama")


def test_unknown_option_is_an_error_naming_it():
    dataset = LLMBackendDataset(
        backend="openai", openai={"model": "m", "base_url": "http://x", "temprature": 1}
    )
    with pytest.raises(DatasetError, match=r"llm_backend.openai: bad option .*temprature"):
        dataset.load()


def test_saving_is_refused():
    with pytest.raises(DatasetError, match="read-only"):
        LLMBackendDataset(backend="local").save({"backend": "openai"})
