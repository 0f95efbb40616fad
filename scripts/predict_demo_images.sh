#!/usr/bin/env bash
# Images the project has never seen, for the predict demo: Twemoji (npm @twemoji/svg; the default dataset
# trains on Noto and OpenMoji emoji, never Twemoji), rendered to PNG (with alpha), JPEG, WebP and greyscale,
# plus one broken file (it must be skipped and reported, not fatal). Writes $PREDICT_DEMO_DIR.
set -euo pipefail
out="${PREDICT_DEMO_DIR:-data/01_raw/predict_demo}"
version="15.0.0"
python="${PYTHON:-.venv/bin/python}"
if [ -n "$(ls -A "$out" 2>/dev/null)" ]; then
  echo "predict demo images: present in $out"
  exit 0
fi
if ! command -v npm >/dev/null 2>&1; then
  echo "predict demo images: npm is needed to fetch @twemoji/svg@$version (apt-get install npm)" >&2
  exit 1
fi
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack --silent "@twemoji/svg@$version" >/dev/null && tar -xzf twemoji-svg-*.tgz)
# rendered beside, then moved in place: a failed render leaves no half-written folder that reads as "present"
"$python" scripts/render_predict_demo.py "$tmp/package" "$tmp/rendered"
mkdir -p "$(dirname "$out")"
rm -rf "$out"
mv "$tmp/rendered" "$out"
