#!/usr/bin/env bash
# Print the sha256 that datasets.toml pins for a dataset.
#   bash ci/dataset_hash.sh PATH
# PATH a file:   the file's sha256.
# PATH a folder: the "folder hash": sha256 of the text made of one line per
#   regular file under PATH (recursive; paths relative to PATH with '/',
#   sorted bytewise), each line "<hex sha256 of the file>  <relative path>\n",
#   i.e. cd PATH && find . -type f | sed 's|^\./||' | LC_ALL=C sort | xargs sha256sum | sha256sum
# (NUL-separated here so that names with spaces work; same result otherwise).
# Needs GNU coreutils/findutils (sha256sum, sort -z, xargs -0, sed -z).
set -euo pipefail

if [ "$#" -ne 1 ]; then
    echo "usage: $0 PATH" >&2
    exit 2
fi
p="$1"
if [ -f "$p" ]; then
    sha256sum -- "$p" | cut -d' ' -f1
elif [ -d "$p" ]; then
    (cd -- "$p" && find . -type f -print0 | sed -z 's|^\./||' | LC_ALL=C sort -z \
        | xargs -0 -r sha256sum -- | sha256sum | cut -d' ' -f1)
else
    echo "$0: $p: no such file or folder" >&2
    exit 2
fi
