"""The page in a real browser: headless Chromium uploads two photographs, enters labels (one new), waits for
the tags, opens one explanation and checks the heat map is drawn; the tags equal ``predict``'s.

The server is started and stopped here (uvicorn on a free port of 127.0.0.1, the tiny trained model); every
wait is bounded. Skipped only where Chromium or its driver is not installed (``.ci/run`` installs Debian's
``chromium`` and ``chromium-driver``). ``OVMLR_APP_SCREENSHOT=docs/images/app.png`` saves the screenshot of
the docs.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest
import uvicorn
from kedro.io import DataCatalog, MemoryDataset
from kedro.runner import SequentialRunner

from ovmlr.app import create_app
from ovmlr.datasets import EmbeddingCacheDataset
from ovmlr.llm.cache import empty_cache_frame
from ovmlr.pipelines.predict import create_pipeline
from ovmlr.trained.limits import ServingLimits

CHROMIUM, CHROMEDRIVER = shutil.which("chromium"), shutil.which("chromedriver")
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        CHROMIUM is None or CHROMEDRIVER is None,
        reason="needs Debian's chromium and chromium-driver (apt-get install chromium chromium-driver)",
    ),
]
LABELS = ["cat", "zebra", "dog", "tree"]  # zebra is new to the tiny model
WAIT_S = 60


def photographs(folder: Path) -> list[Path]:
    """Two real photographs shipped with installed packages (matplotlib's and scikit-learn's samples)."""
    import matplotlib.cbook
    import sklearn.datasets

    sources = [
        Path(matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)),
        Path(sklearn.datasets.__file__).parent / "images" / "china.jpg",
    ]
    folder.mkdir(parents=True, exist_ok=True)
    return [Path(shutil.copy(source, folder / source.name)) for source in sources]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(name="server", scope="module")
def server_fixture(trained):
    """``http://127.0.0.1:<port>`` serving the page over the tiny model, stopped after the module."""
    port = free_port()
    config = uvicorn.Config(
        create_app(trained, ServingLimits()), host="127.0.0.1", port=port, log_level="warning"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + WAIT_S
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError(f"the app did not start on port {port}")
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(WAIT_S)


@pytest.fixture(name="browser", scope="module")
def browser_fixture():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1400,900"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(WAIT_S)
    driver.set_script_timeout(WAIT_S)
    yield driver
    driver.quit()


def predict_scores(trained, folder: Path, labels: list[str], tmp_path: Path) -> dict[str, dict[str, float]]:
    """``predict``'s scores per file name: the pipeline run on an in-memory catalog."""
    params = {
        "images": str(folder),
        "labels": labels,
        "policy": "similarity",
        "top_k": 2,
        "threshold": None,
        "encoding": {"batch_size": 2, "num_workers": 0, "chunk_size": 8},
        "contact_sheet": {"max_images": 2, "n_cols": 2, "top_k": 2},
    }
    cache = EmbeddingCacheDataset(str(tmp_path / "cache"))
    catalog = DataCatalog({"prediction_embedding_index": cache, "prediction_embeddings": cache})
    inputs = {
        "predict_model": trained,
        "llm_backend": None,
        "prediction_llm_cache_before": empty_cache_frame(),
        "params:relation_mining.llm": {},
        "params:predict.encoding.batch_size": 2,
        **{f"params:predict.{k}": v for k, v in params.items()},
    }
    for name, value in inputs.items():
        catalog[name] = MemoryDataset(value, copy_mode="assign")
    pipeline = create_pipeline().to_outputs("predictions")
    table = SequentialRunner().run(pipeline, catalog)["predictions"].load()  # the free output
    return {Path(row["path"]).name: {n: float(row[n]) for n in labels} for _, row in table.iterrows()}


def wait_for(driver, script: str, what: str):
    """Poll a JavaScript expression until it is truthy (at most ``WAIT_S`` seconds)."""
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, WAIT_S, poll_frequency=0.1).until(
        lambda d: d.execute_script(f"return {script};"), message=f"waited {WAIT_S} s for {what}"
    )


def page_tags(driver) -> dict[str, list[str]]:
    return driver.execute_script(
        "const out = {}; document.querySelectorAll('.card').forEach(c => {"
        " out[c.dataset.image] = [...c.querySelectorAll('.tag')].map(t => t.dataset.label); }); return out;"
    )


def test_the_page_tags_two_photographs_and_shows_why(server, browser, trained, tmp_path) -> None:
    from selenium.webdriver.common.by import By

    files = photographs(tmp_path / "photos")
    browser.get(server)
    wait_for(browser, "document.getElementById('model').textContent.includes('TrainedC2SRT')", "the model")
    browser.find_element(By.ID, "files").send_keys("\n".join(str(f) for f in files))
    browser.find_element(By.ID, "labels").send_keys("\n".join(LABELS))
    browser.find_element(By.ID, "tag-button").click()
    wait_for(browser, "document.body.dataset.tagged", "the tags")
    assert browser.find_element(By.ID, "error").text == ""
    threshold = float(browser.find_element(By.ID, "threshold").get_attribute("value"))
    tags = page_tags(browser)
    assert sorted(tags) == sorted(f.name for f in files)
    assert any(tags.values()), "no image got a tag at the page's default threshold"

    expected = predict_scores(trained, files[0].parent, LABELS, tmp_path)
    for name, scores in expected.items():
        predicted = sorted((n for n in LABELS if scores[n] >= threshold), key=lambda n: -scores[n])
        assert tags[name] == predicted, f"{name}: page {tags[name]} != predict {predicted} at {threshold}"

    csv_rows = browser.execute_script("return rows();")  # what Download CSV and JSON write
    assert len(csv_rows) == 2 * len(LABELS)
    assert {r["label"] for r in csv_rows if r["tag"]} == {t for names in tags.values() for t in names}

    first = next(name for name in tags if tags[name])
    browser.find_element(By.CSS_SELECTOR, f".card[data-image='{first}'] .tag").click()
    wait_for(browser, "document.getElementById('heatmap').dataset.drawn === '1'", "the heat map")
    painted = browser.execute_script(
        "const c = document.getElementById('heatmap'); const d = c.getContext('2d')"
        ".getImageData(0, 0, c.width, c.height).data; let n = 0, red = 0;"
        "for (let i = 0; i < d.length; i += 4) { if (d[i + 3] > 0) n++; if (d[i] > d[i + 1] + 40) red++; }"
        "return [n, red, c.width * c.height];"
    )
    assert painted[0] == painted[2] and painted[1] > 0, f"heat map not drawn: {painted}"
    neighbours = browser.find_elements(By.CSS_SELECTOR, "#neighbours tr.neighbour")
    assert len(neighbours) == 2  # K = 2 neighbours of the tiny model
    weights = [float(row.find_elements(By.TAG_NAME, "td")[2].text) for row in neighbours]
    assert sum(weights) == pytest.approx(1.0, abs=2e-3)
    if os.environ.get("OVMLR_APP_SCREENSHOT"):
        browser.save_screenshot(os.environ["OVMLR_APP_SCREENSHOT"])


def test_bad_input_is_a_message_on_the_page(server, browser, tmp_path) -> None:
    from selenium.webdriver.common.by import By

    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"not a jpeg")
    browser.get(server)
    wait_for(browser, "document.getElementById('model').textContent.includes('TrainedC2SRT')", "the model")
    browser.find_element(By.ID, "files").send_keys(str(broken))
    browser.find_element(By.ID, "tag-button").click()
    wait_for(browser, "document.getElementById('error').textContent", "the empty-label message")
    assert "the list of label names is empty" in browser.find_element(By.ID, "error").text
    browser.find_element(By.ID, "labels").send_keys("cat\nzebra\nCat")
    browser.find_element(By.ID, "tag-button").click()
    wait_for(browser, "document.getElementById('error').textContent.includes('duplicates')", "duplicate")
    browser.find_element(By.ID, "labels").clear()
    browser.find_element(By.ID, "labels").send_keys("cat, zebra")
    browser.find_element(By.ID, "tag-button").click()
    wait_for(browser, "document.getElementById('error').textContent.includes('not a readable')", "bad image")
    assert "image 'broken.jpg': not a readable image" in browser.find_element(By.ID, "error").text


def test_the_api_answers_bad_requests_with_400_and_a_message(server) -> None:
    def post(body: bytes) -> tuple[int, dict]:
        request = urllib.request.Request(f"{server}/api/tag", body, {"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=WAIT_S) as response:
                return response.status, json.load(response)
        except urllib.error.HTTPError as exc:
            return exc.code, json.load(exc)

    assert post(b"{not json")[0] == 400
    status, body = post(json.dumps({"images": [], "labels": ["cat"]}).encode())
    assert (status, body) == (400, {"error": "no image: pick or drop one or more images"})
    with urllib.request.urlopen(f"{server}/api/model", timeout=WAIT_S) as response:
        model = json.load(response)
    assert model["vocabulary"] == ["cat", "dog", "car", "tree", "lion", "truck"]
    assert model["calibrated"] is False and model["limits"]["max_rows"] == 64
    assert np.isfinite(model["limits"]["max_image_pixels"])
