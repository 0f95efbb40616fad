"""Model configs: JSON files ↔ dataclasses, overrides and their errors."""

from __future__ import annotations

import pytest

from ovmlr.models import (
    C2SRTConfig,
    config_from_dict,
    config_to_dict,
    list_model_configs,
    load_model_config,
)


def test_shipped_configs_load_with_paper_defaults() -> None:
    assert {"c2srt", "c2srt_small"} <= set(list_model_configs())
    paper = load_model_config("c2srt")
    assert (paper.embed_dim, paper.isr.alpha, paper.isr.max_patches, paper.ist.layers) == (512, 0.5, 32, 2)
    assert paper.isr.temperature is None
    assert paper.score.zero_shot_weight == 0.0  # the paper's Eq. (10); the demo config's w is validated
    assert load_model_config("c2srt_small").embed_dim == 128  # the demo backbone's joint dimension


def test_overrides_nested_dotted_and_top_level() -> None:
    config = load_model_config("c2srt", {"use_ist": False, "isr": {"alpha": 0.3}, "ist.heads": 4})
    assert config.use_ist is False
    assert config.isr.alpha == 0.3
    assert config.isr.max_patches == 32  # untouched sibling of an overridden field
    assert config.ist.heads == 4


def test_round_trip_through_dict() -> None:
    config = load_model_config("c2srt_small", {"isr.pooling": "weighted"})
    assert config_from_dict(config_to_dict(config)) == config
    assert config_from_dict({}) == C2SRTConfig()


@pytest.mark.parametrize(
    ("overrides", "match"),
    [
        ({"isr": {"alfa": 0.3}}, r"Unknown C2SRTConfig key\(s\) \['alfa'\] in model config 'c2srt'.isr"),
        ({"ist.head": 4}, r"Unknown C2SRTConfig key\(s\) \['head'\]"),
        ({"dropout": 0.1}, r"Unknown C2SRTConfig key\(s\) \['dropout'\]"),
        ({"isr": 0.3}, "isr must be a mapping of ISRConfig fields"),
        ({"use_isr": "yes"}, "use_isr must be of type <class 'bool'>, got 'yes'"),
        ({"isr.alpha": 1.5}, r"isr.alpha must be in \[0, 1\], got 1.5"),
        ({"isr.pooling": "max"}, "isr.pooling must be one of"),
        ({"ist.implementation": "sparse"}, "ist.implementation must be one of"),
        ({"ist.hidden_dim": 510}, r"ist.hidden_dim \(510\) must be divisible by ist.heads \(8\)"),
        ({"score.zero_shot_weight": 1.5}, r"score.zero_shot_weight must be in \[0, 1\], got 1.5"),
    ],
)
def test_bad_overrides_raise(overrides: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        load_model_config("c2srt", overrides)


def test_unknown_config_name_lists_available() -> None:
    with pytest.raises(ValueError, match=r"Unknown model config 'c2srt_huge'; available: \['c2srt'"):
        load_model_config("c2srt_huge")
