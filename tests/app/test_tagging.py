"""The page's requests on the tiny trained model: tags and explanations, scores equal to the served model's,
clear errors for bad input, the server's limits applied."""

from __future__ import annotations

import base64
import io

import numpy as np
import pytest
from PIL import Image

from ovmlr.app.tagging import BadRequest, Tagger, calibrated_thresholds
from ovmlr.trained.limits import ServingLimits
from ovmlr.trained.pyfunc import TrainedC2SRTPyfunc


def _png(seed: int, size=(40, 48)) -> str:
    rng = np.random.default_rng(seed)
    buffer = io.BytesIO()
    Image.fromarray(rng.integers(0, 255, (*size, 3), dtype=np.uint8)).save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def test_tags_explain_every_label_and_scores_equal_the_served_models(trained) -> None:
    tagger = Tagger(trained, ServingLimits())
    images = [{"name": "a.png", "data": _png(0)}, {"name": "b.png", "data": _png(1)}]
    answer = tagger.tag({"images": images, "labels": ["cat", "zebra", "truck"], "top_k": 2})
    served = TrainedC2SRTPyfunc(trained, ServingLimits()).predict(
        None,
        __import__("pandas").DataFrame({"image": [i["data"] for i in images]}),
        {"labels": ["cat", "zebra", "truck"], "top_k": 2},
    )
    for row, image in enumerate(answer["images"]):
        assert image["error"] is None and image["grid"] == [4, 4]
        assert image["view"].startswith("data:image/png;base64,")
        scores = [label["score"] for label in image["labels"]]
        np.testing.assert_allclose(scores, served.loc[row, ["cat", "zebra", "truck"]], rtol=1e-5, atol=1e-6)
        assert image["top_labels"] == served.loc[row, "top_labels"]
        zebra = image["labels"][1]
        assert (zebra["status"], zebra["policy"], zebra["threshold"]) == ("new", "similarity", None)
        assert "similarity policy" in zebra["note"]
        assert len(zebra["patches"]) == 16 and sum(zebra["patches"]) == pytest.approx(1.0)
        assert sum(n["weight"] for n in zebra["neighbours"]) == pytest.approx(1.0)


def test_an_unreadable_image_is_answered_with_its_reason_and_the_others_are_tagged(trained) -> None:
    tagger = Tagger(trained, ServingLimits())
    bad = base64.b64encode(b"not an image").decode("ascii")
    answer = tagger.tag(
        {"images": [{"name": "x.jpg", "data": bad}, {"name": "ok.png", "data": _png(0)}], "labels": ["cat"]}
    )
    assert answer["images"][0] == {
        "name": "x.jpg",
        "error": "image 'x.jpg': not a readable image (no known image format)",
    }
    assert answer["images"][1]["error"] is None


@pytest.mark.parametrize(
    ("labels", "message"),
    [
        ([], "the list of label names is empty"),
        (["cat", "Cat"], "labels\\[1\\] 'Cat' duplicates labels\\[0\\] 'cat'"),
        (["cat", "  "], "labels\\[1\\] is empty"),
        ("cat", "labels must be a list of names"),
        (["x" * 101], "101 characters: the limit is 100 \\(max_label_chars\\)"),
    ],
)
def test_bad_labels_are_clear_errors(trained, labels, message) -> None:
    with pytest.raises(BadRequest, match=message):
        Tagger(trained, ServingLimits()).tag({"images": [{"name": "a", "data": _png(0)}], "labels": labels})


def test_the_servers_limits_apply(trained) -> None:
    tagger = Tagger(trained, ServingLimits(max_rows=1, max_labels=2, max_image_pixels=100))
    one = [{"name": "a.png", "data": _png(0)}]
    with pytest.raises(BadRequest, match="no image"):
        tagger.tag({"images": [], "labels": ["cat"]})
    with pytest.raises(BadRequest, match="the request has 2 images: the limit is 1 \\(max_rows\\)"):
        tagger.tag({"images": one * 2, "labels": ["cat"]})
    with pytest.raises(BadRequest, match="3 labels: the limit is 2 \\(max_labels\\)"):
        tagger.tag({"images": one, "labels": ["cat", "dog", "car"]})
    answer = tagger.tag({"images": one, "labels": ["cat"]})
    assert "more than the limit of 100 decoded pixels" in answer["images"][0]["error"]


def test_calibrated_thresholds_are_used_when_the_model_has_them(make_trained) -> None:
    model = make_trained()
    assert calibrated_thresholds(model, ["cat", "zebra"]) == [None, None]

    class Thresholds:  # the interface of TrainedC2SRT.thresholds: nan = no threshold for that name
        def for_names(self, names):
            return np.array([0.25 if n == "cat" else np.nan for n in names])

    model.thresholds = Thresholds()
    assert calibrated_thresholds(model, ["cat", "zebra"]) == [0.25, None]
    assert Tagger(model, ServingLimits()).describe()["calibrated"] is True


def test_the_command_reads_its_port_and_model_from_the_environment(monkeypatch) -> None:
    from ovmlr.app.__main__ import parse_args

    monkeypatch.delenv("APP_PORT", raising=False)
    monkeypatch.delenv("APP_MODEL_URI", raising=False)
    args = parse_args(["--model-name", "m"])
    assert (args.model_name, args.model_uri, args.port) == ("m", None, 8080)
    monkeypatch.setenv("APP_PORT", "8123")
    monkeypatch.setenv("APP_MODEL_URI", "models:/m/3")
    assert (parse_args(["--model-name", "m"]).port, parse_args(["--model-name", "m"]).model_uri) == (
        8123,
        "models:/m/3",
    )
