"""SVG rendering gives the same pixels whatever was rendered before it, and has no wall-clock limit."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from ovmlr.data.tagged_art.render import RenderError, rasterise_svg

OPENCLIPART = Path("/usr/share/openclipart/svg")
# Openclipart files with <text> that resvg refuses: before cairo's static data was reset per file, their
# pixels depended on which files the same process had rendered before (two build orders disagreed).
TEXT_FILES = [
    "computer/8port_switch_denco",
    "computer/buttons/button_01",
    "computer/firewall_denco_01",
    "office/newspaper_aubanel_monnie_01",
    "office/telephone/ip_phone_michael_hart_r",
    "recreation/nitrox_scuba_tank_01",
    "recreation/sports/cronometro_mauro_olivo_01",
    "recreation/sports/cronometro_mauro_olivo_02",
    "recreation/sports/cronometro_mauro_olivo_03",
    "signs_and_symbols/font_samples_revdoug_01",
    "signs_and_symbols/hydrant_romus_01",
    "transportation/fire_engine_romus_01",
    "transportation/roadsigns/parking_romus_01",
    "transportation/vehicles/ambulans_romus_01",
    "unsorted/ms_01",
    "unsorted/otto_needs_you_01",
]
RENDER_IN_ORDER = """
import hashlib, json, sys
from pathlib import Path
from ovmlr.data.tagged_art.render import rasterise_svg
out = {f: hashlib.sha1(rasterise_svg(Path(f).read_bytes(), 48, 4_000_000, 4.0).tobytes()).hexdigest()
       for f in json.loads(sys.argv[1])}
print(json.dumps(out))
"""


def _render_in_a_fresh_process(files: list[str]) -> dict[str, str]:
    done = subprocess.run(
        [sys.executable, "-c", RENDER_IN_ORDER, json.dumps(files)], capture_output=True, text=True, check=True
    )
    return json.loads(done.stdout)


@pytest.mark.skipif(
    not all((OPENCLIPART / f"{f}.svg").is_file() for f in TEXT_FILES),
    reason="Debian openclipart-svg is not installed",
)
def test_text_svgs_render_the_same_in_any_order():
    files = [str(OPENCLIPART / f"{f}.svg") for f in TEXT_FILES]
    orders = [files, list(np.random.default_rng(2).permutation(files))]
    first, second = (_render_in_a_fresh_process(order) for order in orders)
    assert first == second


def test_a_file_over_the_size_limit_is_skipped_with_its_size():
    svg = (
        b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><rect width="10" height="10"/></svg>'
    )
    assert rasterise_svg(svg, 8, len(svg), 4.0).shape == (8, 8, 4)
    with pytest.raises(RenderError, match=rf"larger than {len(svg) - 1:,} bytes \({len(svg):,}\)"):
        rasterise_svg(svg, 8, len(svg) - 1, 4.0)
