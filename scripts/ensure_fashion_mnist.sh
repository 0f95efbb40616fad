#!/usr/bin/env bash
# Makes sure the four Fashion-MNIST IDX files are present for the offline default dataset.
# As root with apt available: installs the Debian package dataset-fashion-mnist.
# Otherwise: says exactly which files to put where, or which parameter to set.
set -euo pipefail
dir="${FASHION_MNIST_DIR:-/usr/share/datasets/fashion-mnist}"
files=(train-images-idx3-ubyte.gz train-labels-idx1-ubyte.gz t10k-images-idx3-ubyte.gz t10k-labels-idx1-ubyte.gz)

missing() { for f in "${files[@]}"; do [ -s "$dir/$f" ] || echo "$f"; done; }

if [ -z "$(missing)" ]; then
  echo "Fashion-MNIST: found all four IDX files in $dir"
  exit 0
fi
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1 && [ "$dir" = "/usr/share/datasets/fashion-mnist" ]; then
  echo "Fashion-MNIST: installing the Debian package dataset-fashion-mnist"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dataset-fashion-mnist
  if [ -z "$(missing)" ]; then exit 0; fi
fi
cat >&2 <<MSG
Fashion-MNIST files are missing from $dir:
$(missing | sed 's/^/  - /')
Either
  * install the Debian package (as root):  apt-get update && apt-get install dataset-fashion-mnist
  * or download the four standard files (train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz,
    t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz) from the Fashion-MNIST release into a folder,
    then run:  make run FASHION_MNIST_DIR=/that/folder
    (or set fashion_mnist_dir in conf/local/globals.yml).
MSG
exit 1
