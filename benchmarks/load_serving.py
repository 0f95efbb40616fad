"""Load test of the served model: ``mlflow models serve`` on 127.0.0.1, N concurrent clients, mixed requests.

For each number of clients (``--clients``, default 1 4 16) the clients share ``--requests`` requests (or stop
after ``--max-seconds``), drawn with a seed from a mix: batches of 1 and 32 images (base64 JPEG), the model's
own vocabulary or one of 8 lists of new labels, and ``--bad`` (5 %) bad requests (not an image, too many rows,
a label over the length limit, a path outside the allowed folder, ``top_k`` 0). Then a **soak**: 4 clients
for ``--soak-seconds``, every request a label list never sent before (each one misses the label-set cache and
runs the text tower), while the server's memory is sampled.

Reported: the CPU (``/proc/cpuinfo``), per level requests/s, images/s, p50/p95/p99 latency (ms) and the peak
RSS of the server's processes; for the soak, RSS after warm-up and at the end. Checked (exit status 1 when one
fails): every good answer equals the in-process model's (``TrainedC2SRTPyfunc``), every bad request gets 400,
the server still answers ``/ping`` after each phase, and the soak's RSS grows less than ``--max-growth-mb``.

``--model`` is a trained-model folder (``save_trained``), or ``demo``: a C²SRT head with random weights on the
demo backbone's architecture (random weights too), 64 categories: the serving cost of the default model, not
its accuracy. ``python benchmarks/load_serving.py --model demo`` (about 15 min on 2 cores); the test suite
runs a short version on the tests' tiny model (``tests/test_benchmarks.py``).
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import os
import random
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
from PIL import Image, ImageDraw

from ovmlr.backbones.precision import describe_machine
from ovmlr.trained import ServingLimits, TrainedC2SRT, load_trained, save_trained
from ovmlr.trained.local_server import LocalServer, post_json
from ovmlr.trained.pyfunc import (
    ARTIFACT_KEY,
    TrainedC2SRTPyfunc,
    entry_point,
    model_code_paths,
    model_signature,
)

NEW_LABELS = [
    ["hedgehog", "rocket", "umbrella"],
    ["fire truck", "sunflower"],
    ["octopus", "guitar", "pizza", "kite"],
    ["snowman"],
    ["ladybug", "bicycle", "book", "penguin", "sailboat"],
    ["heart", "star"],
    ["strawberry", "tree", "cat"],
    ["volcano", "lighthouse", "violin", "cactus"],
]
POOL = 32  # distinct images; a batch of 32 sends them all


def cpu_model() -> str:
    """The CPU's model name and the number of cores this process may use."""
    names = [
        line.split(":", 1)[1].strip()
        for line in Path("/proc/cpuinfo").read_text().splitlines()
        if line.startswith("model name")
    ]
    return f"{names[0] if names else 'unknown CPU'}, {len(os.sched_getaffinity(0))} cores"


def demo_model(categories: int = 64, seed: int = 0) -> TrainedC2SRT:
    """A random C²SRT head on the demo backbone's architecture (random weights): the default model's cost."""
    from ovmlr.backbones import BackboneSpec
    from ovmlr.backbones.configs import packaged_model_config
    from ovmlr.core.model_factory import build_model
    from ovmlr.core.vocabulary import Vocabulary
    from ovmlr.models import config_to_dict, load_model_config
    from ovmlr.trained.labels import similarity_neighbours

    name = "ovmlr-demo-vit-p16-128"
    spec = BackboneSpec(name, model_config=packaged_model_config(name), allow_random_weights=True).with_id()
    config = config_to_dict(load_model_config("c2srt_art", {"isr.temperature": 30.0}))
    names = tuple(f"category {i}" for i in range(categories))
    seen = categories * 3 // 4
    roles = tuple("seen" if i < seen else "unseen" for i in range(categories))
    empty = Vocabulary(
        np.arange(categories),
        names,
        roles,
        np.zeros((categories, 256), np.float32),
        np.zeros((categories, 4), np.int64),
    )
    model = TrainedC2SRT(
        config,
        build_model(config, seed=seed).state_dict(),
        empty,
        spec,
        ("a drawing of a {}.", "a photo of a {}."),
    )
    text = model.text_features(names)
    nearest = similarity_neighbours(text, text[:seen], 5)  # K + 1: a seen category finds itself first
    neighbours = np.array([[j for j in row if j != i][:4] for i, row in enumerate(nearest)], np.int64)
    model.vocabulary = Vocabulary(np.arange(categories), names, roles, text, neighbours)
    return model


def images(count: int = POOL, size: int = 256, seed: int = 0) -> list[str]:
    """Base64 JPEGs of coloured shapes on noise (deterministic)."""
    rng, encoded = np.random.default_rng(seed), []
    for _ in range(count):
        image = Image.fromarray(rng.integers(0, 255, (size, size, 3), dtype=np.uint8))
        draw = ImageDraw.Draw(image)
        for _ in range(3):
            x, y, r = (int(v) for v in rng.integers(20, size - 20, 3) // 2)
            draw.ellipse((x, y, x + r, y + r), fill=tuple(int(c) for c in rng.integers(0, 255, 3)))
        buffer = io.BytesIO()
        image.save(buffer, "JPEG", quality=90)
        encoded.append(base64.b64encode(buffer.getvalue()).decode())
    return encoded


@dataclass(frozen=True)
class Request:
    """One request of the mix: its body, how many images, and what it should get."""

    kind: str  # b1-own, b1-new, b32-own, b32-new, bad-<what>
    body: bytes
    images: int
    expected: tuple[int, int] | None  # (label list, first image) of a good request


def bad_requests(pool: list[str], limits: ServingLimits) -> dict[str, dict]:
    """Requests the server must answer with 400 (and keep serving)."""
    one = [{"image": pool[0]}]
    return {
        "bad-not-an-image": {"dataframe_records": [{"image": base64.b64encode(b"not an image").decode()}]},
        "bad-rows": {"dataframe_records": one * (limits.max_rows + 1)},
        "bad-label-length": {
            "dataframe_records": one,
            "params": {"labels": ["x" * (limits.max_label_chars + 1)]},
        },
        "bad-path": {"dataframe_records": [{"path": "../../../../etc/passwd"}]},
        "bad-top-k": {"dataframe_records": one, "params": {"top_k": 0}},
    }


def request_mix(count: int, pool: list[str], limits: ServingLimits, bad: float, seed: int) -> list[Request]:
    """``count`` requests: batch 1 and 32, own vocabulary or new labels, a share ``bad`` of bad ones."""
    rng, bads, out = random.Random(seed), bad_requests(pool, limits), []
    for _ in range(count):
        if rng.random() < bad:
            kind = rng.choice(sorted(bads))
            out.append(Request(kind, json.dumps(bads[kind]).encode(), 0, None))
            continue
        batch = 32 if rng.random() < 0.25 else 1
        labels = rng.randrange(len(NEW_LABELS) + 1)  # 0: the model's own vocabulary
        first = 0 if batch == 32 else rng.randrange(len(pool))
        params = {"labels": NEW_LABELS[labels - 1]} if labels else {}
        body = {"dataframe_records": [{"image": e} for e in pool[first : first + batch]], "params": params}
        kind = f"b{batch}-{'new' if labels else 'own'}"
        out.append(Request(kind, json.dumps(body).encode(), batch, (labels, first)))
    return out


def expected_answers(model: TrainedC2SRTPyfunc, pool: list[str]) -> dict[int, pd.DataFrame]:
    """In-process scores of every pool image, per label list (0: the own vocabulary)."""
    frame = pd.DataFrame({"image": pool})
    answers = {0: model.predict(None, frame, {})}
    for i, labels in enumerate(NEW_LABELS, start=1):
        answers[i] = model.predict(None, frame, {"labels": labels})
    return answers


def correct(request: Request, status: int, body, expected: dict[int, pd.DataFrame]) -> bool:
    """Whether the answer is the right one: a bad request's 400, a good one's scores as in-process."""
    if request.expected is None:
        return status == 400
    if status != 200:
        return False
    labels, first = request.expected
    want = expected[labels].iloc[first : first + request.images]
    got = pd.DataFrame(body["predictions"])
    lists = ("top_labels", "top_scores", "tags")  # list-valued columns: the scores decide them
    names = [c for c in want.columns if c not in lists]
    return list(got.columns) == list(want.columns) and np.allclose(
        got[names].to_numpy(), want[names].to_numpy(), rtol=1e-4, atol=1e-5
    )


@dataclass
class Level:
    """What one concurrency level measured."""

    clients: int
    latencies: list[float] = field(default_factory=list)
    images: int = 0
    wrong: list[str] = field(default_factory=list)
    seconds: float = 0.0
    peak_rss: int = 0

    def summary(self) -> dict[str, float]:
        ms = 1000 * np.asarray(self.latencies or [0.0])
        return {
            "clients": self.clients,
            "requests": len(self.latencies),
            "req/s": len(self.latencies) / self.seconds,
            "img/s": self.images / self.seconds,
            "p50 ms": float(np.percentile(ms, 50)),
            "p95 ms": float(np.percentile(ms, 95)),
            "p99 ms": float(np.percentile(ms, 99)),
            "peak RSS MB": self.peak_rss / 2**20,
            "wrong": len(self.wrong),
        }


class MemorySampler:
    """Samples the server's RSS every ``interval_s`` in a thread: the peak and the time series."""

    def __init__(self, server: LocalServer, interval_s: float) -> None:
        self.server, self.interval_s, self.samples = server, interval_s, []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.samples.append((time.monotonic(), self.server.memory()))
            self._stop.wait(self.interval_s)

    def __enter__(self) -> MemorySampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.samples.append((time.monotonic(), self.server.memory()))

    @property
    def peak(self) -> int:
        return max(rss for _, rss in self.samples)


def run_level(
    server: LocalServer,
    requests: list[Request],
    clients: int,
    max_seconds: float,
    expected: dict[int, pd.DataFrame],
) -> Level:
    """Send ``requests`` from ``clients`` threads (until done or ``max_seconds``)."""
    level, queue, lock = Level(clients), iter(requests), threading.Lock()
    deadline = time.monotonic() + max_seconds

    def client() -> None:
        while time.monotonic() < deadline:
            with lock:
                request = next(queue, None)
            if request is None:
                return
            started = time.perf_counter()
            status, body = post_json(server.url + "/invocations", request.body, timeout_s=300)
            elapsed = time.perf_counter() - started
            ok = correct(request, status, body, expected)
            with lock:
                level.latencies.append(elapsed)
                level.images += request.images
                if not ok:
                    level.wrong.append(f"{request.kind}: {status} {str(body)[:200]}")

    with MemorySampler(server, 0.5) as memory:
        started = time.monotonic()
        with ThreadPoolExecutor(clients) as pool:
            list(pool.map(lambda _: client(), range(clients)))
        level.seconds = time.monotonic() - started
    level.peak_rss = memory.peak
    return level


def soak(server: LocalServer, pool: list[str], seconds: float, clients: int = 4) -> dict[str, float]:
    """Distinct label lists for ``seconds``: requests, and RSS after a 20 % warm-up, at the end and peak."""
    counter, lock, statuses = iter(range(10**9)), threading.Lock(), []
    deadline = time.monotonic() + seconds

    def client() -> None:
        while time.monotonic() < deadline:
            with lock:
                i = next(counter)
            labels = [f"soak name {i}", f"another made-up thing {i}", "cat"]
            body = {"dataframe_records": [{"image": pool[i % len(pool)]}], "params": {"labels": labels}}
            status, _ = post_json(server.url + "/invocations", body, timeout_s=300)
            with lock:
                statuses.append(status)

    with MemorySampler(server, 2.0) as memory, ThreadPoolExecutor(clients) as executor:
        list(executor.map(lambda _: client(), range(clients)))
    start = memory.samples[0][0]
    warm = [rss for t, rss in memory.samples if t - start >= 0.2 * seconds] or [memory.samples[-1][1]]
    return {
        "label lists": len(statuses),
        "non-200": sum(s != 200 for s in statuses),
        "RSS after warm-up MB": warm[0] / 2**20,
        "RSS at the end MB": memory.samples[-1][1] / 2**20,
        "peak RSS MB": memory.peak / 2**20,
    }


def serve(model_folder: Path, work: Path, limits_env: dict[str, str]) -> LocalServer:
    """The model saved as an MLflow pyfunc under ``work`` and its (not yet started) server."""
    mlflow.pyfunc.save_model(
        str(work / "pyfunc"),
        python_model=entry_point(),
        artifacts={ARTIFACT_KEY: str(model_folder)},
        signature=model_signature(),
        code_paths=model_code_paths(),
    )
    env = {**os.environ, **limits_env, "MLFLOW_DISABLE_TELEMETRY": "true"}
    return LocalServer(str(work / "pyfunc"), env=env)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="demo", help="a trained-model folder, or 'demo'")
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 4, 16])
    parser.add_argument("--requests", type=int, default=200, help="requests per level")
    parser.add_argument("--max-seconds", type=float, default=180.0, help="time limit per level")
    parser.add_argument("--bad", type=float, default=0.05, help="share of bad requests")
    parser.add_argument("--soak-seconds", type=float, default=180.0)
    parser.add_argument("--max-growth-mb", type=float, default=64.0, help="soak: allowed RSS growth")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", default=None, help="also write the figures to this file")
    args = parser.parse_args()
    print(describe_machine())
    print(f"CPU: {cpu_model()}; {time.strftime('%Y-%m-%d')}")
    with tempfile.TemporaryDirectory(prefix="ovmlr-load-") as tmp:
        work = Path(tmp)
        folder = save_trained(demo_model(), work / "model") if args.model == "demo" else Path(args.model)
        (work / "allowed").mkdir()
        limits_env = {"OVMLR_SERVE_PATH_ROOT": str(work / "allowed")}
        limits = ServingLimits.from_env(limits_env)
        pool = images()
        expected = expected_answers(TrainedC2SRTPyfunc(load_trained(folder), limits), pool)
        print(f"model: {load_trained(folder)!r}; limits: {limits}")
        with serve(folder, work, limits_env) as server:
            return report(server, pool, limits, expected, args)


def report(
    server: LocalServer,
    pool: list[str],
    limits: ServingLimits,
    expected: dict[int, pd.DataFrame],
    args: argparse.Namespace,
) -> int:
    """Run the levels and the soak, print the figures and the checks; the exit status."""
    failures, figures = [], {"levels": [], "cpu": cpu_model(), "date": time.strftime("%Y-%m-%d")}
    for clients in args.clients:
        mix = request_mix(args.requests, pool, limits, args.bad, args.seed + clients)
        level = run_level(server, mix, clients, args.max_seconds, expected)
        figures["levels"].append(level.summary())
        print(
            "  ".join(
                f"{k} {v:.1f}" if isinstance(v, float) else f"{k} {v}" for k, v in level.summary().items()
            )
        )
        failures += level.wrong[:5]
        if not server.alive():
            failures.append(f"the server is down after {clients} clients")
    if args.soak_seconds > 0:
        figures["soak"] = soak(server, pool, args.soak_seconds)
        print("soak: " + ", ".join(f"{k} {v:.1f}" for k, v in figures["soak"].items()))
        growth = figures["soak"]["RSS at the end MB"] - figures["soak"]["RSS after warm-up MB"]
        if growth > args.max_growth_mb or figures["soak"]["non-200"]:
            failures.append(f"soak: RSS grew {growth:.1f} MB (limit {args.max_growth_mb}), {figures['soak']}")
    if not server.alive():
        failures.append("the server is down after the soak")
    if args.json:
        Path(args.json).write_text(json.dumps(figures | {"failures": failures}, indent=1))
    for failure in failures:
        print(f"FAILED: {failure}", file=sys.stderr)
    print("all checks passed" if not failures else f"{len(failures)} checks failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
