#!/usr/bin/env bash
# Makes sure the sources of the default dataset (tagged art) are present:
#   Debian openclipart-svg, fonts-noto-color-emoji, unicode-cldr-core (as root with apt: installed here),
#   and wordnet-base (WordNet 3.0: the wordnet relation source, a Table 4 row of the default ablation),
#   npm openmoji (unpacked into $OPENMOJI_DIR with `npm pack`, no node_modules, no install scripts).
# Otherwise it says exactly what is missing and how to provide it.
set -euo pipefail
openmoji_dir="${OPENMOJI_DIR:-data/01_raw/openmoji}"
openmoji_version="17.0.0"
declare -A paths=(
  [openclipart-svg]=/usr/share/openclipart/svg
  [fonts-noto-color-emoji]=/usr/share/fonts/truetype/noto/NotoColorEmoji.ttf
  [unicode-cldr-core]=/usr/share/unicode/cldr/common/annotations/en.xml
  [wordnet-base]=/usr/share/wordnet/data.noun
)
missing_packages() { for p in "${!paths[@]}"; do [ -e "${paths[$p]}" ] || echo "$p"; done; }

if [ -n "$(missing_packages)" ] && [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  echo "Tagged art: installing the Debian packages $(missing_packages | tr '\n' ' ')"
  apt-get update -qq
  # shellcheck disable=SC2046
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(missing_packages) >/dev/null
fi
if [ -n "$(missing_packages)" ]; then
  echo "Tagged art: missing Debian package(s): $(missing_packages | tr '\n' ' ')" >&2
  echo "  install them (as root): apt-get update && apt-get install $(missing_packages | tr '\n' ' ')" >&2
  exit 1
fi

if [ ! -s "$openmoji_dir/data/openmoji.json" ]; then
  if ! command -v npm >/dev/null 2>&1; then
    echo "Tagged art: npm is needed to fetch the OpenMoji package (apt-get install npm), or unpack" >&2
    echo "  openmoji@$openmoji_version (npm) into $openmoji_dir yourself" >&2
    exit 1
  fi
  echo "Tagged art: fetching openmoji@$openmoji_version from the npm registry into $openmoji_dir"
  tmp="$(mktemp -d)"
  trap 'rm -rf "$tmp"' EXIT
  (cd "$tmp" && npm pack --silent "openmoji@$openmoji_version" >/dev/null)
  mkdir -p "$openmoji_dir"
  tar -xzf "$tmp"/openmoji-*.tgz -C "$openmoji_dir" --strip-components=1 package/data/openmoji.json \
    package/color/svg package/LICENSE.txt
fi
echo "Tagged art: sources present (Openclipart, Noto emoji + CLDR, OpenMoji $openmoji_dir)"
