"""The trained-model object: save/load, new label names under both policies, scoring raw images."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from ovmlr.trained import TrainedC2SRT, check_labels, load_trained, save_trained
from ovmlr.trained.images import open_image
from ovmlr.trained.labels import similarity_neighbours
from ovmlr.trained.llm_policy import LLMNeighbourSource

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "llm"))  # the recorded OpenAI server

from recorded_openai_server import RecordedOpenAIServer, Reply  # noqa: E402

from ovmlr.llm.cache import empty_cache_frame  # noqa: E402
from ovmlr.llm.openai_backend import OpenAIChatBackend  # noqa: E402
from ovmlr.llm.prompt import RELATION_TYPES  # noqa: E402

SEEN = ("cat", "dog", "car", "tree")
RELATION = RELATION_TYPES[0]


def test_save_load_round_trip_gives_identical_scores(trained: TrainedC2SRT, image_files, tmp_path) -> None:
    folder = save_trained(trained, tmp_path / "model")
    assert sorted(p.name for p in folder.iterdir()) == [
        "checksums.json",
        "head.safetensors",
        "trained_model.json",
        "vocabulary.parquet",
    ]
    loaded = load_trained(folder)
    images = [open_image(p) for p in image_files]
    labels = ["cat", "lion", "zebra", "fire truck"]
    before = trained.score(*trained.encode_images(images), trained.labels(labels))
    after = loaded.score(*loaded.encode_images(images), loaded.labels(labels))
    np.testing.assert_array_equal(before, after)
    assert loaded.encoder_id == trained.encoder_id and loaded.templates == trained.templates
    assert json.loads((folder / "trained_model.json").read_text())["format"] == "ovmlr.trained_c2srt/1"


def test_a_fine_tuned_model_keeps_its_student_and_a_local_backbone_is_copied_in(trained, tmp_path) -> None:
    from ovmlr.backbones.student import StudentImageEncoder

    checkpoint = tmp_path / "backbone.pt"
    torch.save({"state_dict": trained.backbone().model.state_dict()}, checkpoint)
    spec = trained.backbone_spec.__class__(
        **{**trained.backbone_spec.to_dict(), "pretrained": str(checkpoint)}
    )
    student = StudentImageEncoder(trained.backbone().model.visual, 1)
    with torch.no_grad():
        student.visual.proj.add_(0.3 * torch.randn_like(student.visual.proj))
    model = TrainedC2SRT(
        trained.model_config,
        trained.head_state,
        trained.vocabulary,
        spec,
        trained.templates,
        student_state=student.state_dict(),
        trainable_blocks=1,
    )
    folder = save_trained(model, tmp_path / "ft")
    assert {"student.safetensors", "backbone.safetensors"} <= {p.name for p in folder.iterdir()}
    x = torch.rand(2, 3, 32, 32)
    expected = model.encode_images(x)[0]
    checkpoint.unlink()  # the saved model no longer needs the original file
    loaded = load_trained(folder)
    assert loaded.mode == "finetune" and loaded.encoder_id != trained.encoder_id
    np.testing.assert_allclose(loaded.encode_images(x)[0], expected, rtol=1e-6)
    assert not np.allclose(loaded.encode_images(x)[0], trained.encode_images(x)[0])


def test_training_names_reuse_their_entries_and_new_names_get_k_seen_neighbours(trained) -> None:
    labels = trained.labels(["lion", "  Cat ", "zebra", "fire  truck"])
    assert labels.names == ("lion", "Cat", "zebra", "fire truck")
    assert labels.policies == ("training", "training", "similarity", "similarity")
    vocab = labels.vocabulary
    assert vocab.names[:4] == labels.names and set(vocab.names[4:]) == {"dog", "car", "tree"}
    np.testing.assert_array_equal(vocab.text[1], trained.vocabulary.text[0])  # "Cat" is the training "cat"
    np.testing.assert_allclose(vocab.text[2], trained.text_features(["zebra"])[0], atol=1e-6)
    roles = dict(zip(vocab.names, vocab.roles, strict=True))
    for row in vocab.neighbours:  # every neighbour is a seen category of the scoring vocabulary
        assert all(roles[vocab.names[j]] == "seen" for j in row) and len(row) == 2
    expected = similarity_neighbours(trained.text_features(["zebra"]), trained.seen.text, 2)[0]
    assert [vocab.names[j] for j in vocab.neighbours[2]] == [SEEN[j] for j in expected]
    assert labels.table()["neighbours"][0] == ["Cat", "dog"]  # lion's training neighbours, as requested


def test_scores_of_a_label_do_not_depend_on_the_other_requested_labels(trained) -> None:
    g, p = trained.encode_images(torch.rand(3, 3, 32, 32))
    alone = trained.score(g, p, trained.labels(["zebra"]))
    together = trained.score(g, p, trained.labels(["cat", "zebra", "lion"]))
    np.testing.assert_allclose(alone[:, 0], together[:, 1], rtol=1e-5, atol=1e-6)
    own = trained.score(g, p)
    np.testing.assert_allclose(own[:, [0, 4]], together[:, [0, 2]], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    ("names", "message"),
    [
        ([], "is empty"),
        (["cat", "  "], r"labels\[1\] is empty"),
        (["Dog", "dog "], r"labels\[1\] 'dog' duplicates labels\[0\]"),
        ("cat", "must be a list"),
        (["cat", 3], "must be a string"),
    ],
)
def test_bad_label_lists_are_named(names, message) -> None:
    with pytest.raises(ValueError, match=message):
        check_labels(names)


def test_the_llm_policy_asks_once_and_falls_back_to_similarity(trained) -> None:
    def responder(request: dict, call: int) -> Reply:
        target = re.search(r"new category \*\*(.+?)\*\*", request["messages"][0]["content"]).group(1)
        dog = {"category": "dog", "relationship": RELATION, "strength": "High", "explanation": "both animals"}
        return Reply(json.dumps({"related": [dog] if target == "zebra" else []}))

    with RecordedOpenAIServer(responder) as server:
        backend = OpenAIChatBackend("recorded", server.base_url, require_api_key=False, max_retries=0)
        params = {"n_queries": 2, "temperature": 0.0, "max_tokens": 64}
        source = LLMNeighbourSource(backend, empty_cache_frame(), params)
        labels = trained.labels(["zebra", "cat", "rocket"], policy="llm", llm=source)
        assert len(server.requests) == 4  # 2 new names x 2 queries; "cat" is a training name
        again = LLMNeighbourSource(backend, source.cache, params)
        trained.labels(["zebra", "rocket"], policy="llm", llm=again)
        assert len(server.requests) == 4 and again.new_cache_rows().empty  # answered from the cache
    assert labels.policies == ("llm", "training", "llm")
    table = labels.table()
    assert table["neighbours"][0][0] == "dog"  # the LLM's answer first, similarity tops up to K
    expected = similarity_neighbours(trained.text_features(["rocket"]), trained.seen.text, 2)[0]
    assert table["neighbours"][2] == [SEEN[j] for j in expected]
    assert len(source.new_cache_rows()) == 4
    with pytest.raises(ValueError, match="needs an LLM source"):
        trained.labels(["zebra"], policy="llm")


def test_the_ist_context_is_exact_and_only_as_large_as_the_graph_needs(trained) -> None:
    g, p = trained.encode_images(torch.rand(3, 3, 32, 32))
    one = trained.labels(["lion"])  # lion -> cat, dog (1 hop) -> dog, car, cat, tree (2 hops)
    assert one.vocabulary.names[0] == "lion" and len(one.vocabulary) == 5
    np.testing.assert_allclose(
        trained.score(g, p, one)[:, 0], trained.score(g, p)[:, 4], rtol=1e-5, atol=1e-6
    )
    shallow = make_shallow(trained)
    assert len(shallow.labels(["lion"]).vocabulary) == 3  # one GAT layer: lion and its 2 neighbours
    np.testing.assert_allclose(
        shallow.score(g, p, shallow.labels(["lion"]))[:, 0], shallow.score(g, p)[:, 4], rtol=1e-5, atol=1e-6
    )


def make_shallow(trained: TrainedC2SRT) -> TrainedC2SRT:
    """The same model with a one-layer IST (fresh weights)."""
    from ovmlr.core.model_factory import build_model

    config = {**trained.model_config, "ist": {**trained.model_config["ist"], "layers": 1}}
    return TrainedC2SRT(
        config,
        build_model(config, seed=5).state_dict(),
        trained.vocabulary,
        trained.backbone_spec,
        trained.templates,
    )


def test_a_fine_tuned_ensemble_takes_its_zero_shot_term_from_the_frozen_backbone(trained) -> None:
    from ovmlr.backbones.student import StudentImageEncoder

    student = StudentImageEncoder(trained.backbone().model.visual, 1)
    with torch.no_grad():
        student.visual.proj.add_(0.3 * torch.randn_like(student.visual.proj))
    config = {**trained.model_config, "score": {**trained.model_config["score"], "zero_shot_weight": 0.5}}
    model = TrainedC2SRT(
        config,
        trained.head_state,
        trained.vocabulary,
        trained.backbone_spec,
        trained.templates,
        student_state=student.state_dict(),
        trainable_blocks=1,
    )
    assert model.needs_frozen_global and not trained.needs_frozen_global
    x = torch.rand(3, 3, 32, 32)
    g, p = model.encode_images(x)
    with pytest.raises(ValueError, match="frozen backbone's global features"):
        model.score(g, p)
    frozen = model.encode_frozen_global(x)
    np.testing.assert_allclose(frozen, trained.encode_images(x)[0], rtol=1e-5, atol=1e-6)
    with_frozen = model.score(g, p, frozen_global=frozen)
    wrong = model.score(g, p, frozen_global=g)  # what the student's global would have given
    assert not np.allclose(with_frozen, wrong)


def test_pico_weights_survive_save_and_load(trained, tmp_path) -> None:
    config = {**trained.model_config, "alignment": "pico"}
    from ovmlr.core.model_factory import build_model

    head = build_model(config)
    head.load_state_dict({**trained.head_state, "alignment_weights": torch.ones(head.config.embed_dim)})
    head.set_alignment_weights(torch.linspace(0.2, 1.0, head.config.embed_dim))
    model = TrainedC2SRT(
        config, head.state_dict(), trained.vocabulary, trained.backbone_spec, trained.templates
    )
    loaded = load_trained(save_trained(model, tmp_path / "pico"))
    torch.testing.assert_close(loaded.head().alignment_weights, head.alignment_weights)
    x = torch.rand(2, 3, 32, 32)
    np.testing.assert_array_equal(
        loaded.score(*loaded.encode_images(x)), model.score(*model.encode_images(x))
    )
    assert not np.allclose(model.score(*model.encode_images(x)), trained.score(*trained.encode_images(x)))


def test_the_state_digest_covers_zero_dim_buffers_and_keeps_shapes_apart():
    from ovmlr.trained.model import state_digest

    counter = {"bn.num_batches_tracked": torch.tensor(7)}
    assert state_digest(counter) != state_digest({"bn.num_batches_tracked": torch.tensor(8)})
    flat, square = torch.arange(4.0), torch.arange(4.0).reshape(2, 2)
    assert state_digest({"w": flat}) != state_digest({"w": square})
