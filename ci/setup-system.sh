#!/usr/bin/env bash
# System packages the build needs, installed from Debian only when missing (idempotent):
#   protobuf-compiler — candle-onnx compiles ONNX's protobuf schema at build time (`protoc`).
# Chromium for the report's browser test is installed by ci/browser_test.sh itself.
set -euo pipefail
# The lint gate needs the toolchain's rustfmt and clippy (rustup components; nothing here
# downloads them): say so plainly rather than failing later inside the test command.
for component in fmt clippy; do
    if ! cargo "$component" --version >/dev/null 2>&1; then
        echo "setup-system: 'cargo $component' is missing: add it to the toolchain (rustup component add ${component/fmt/rustfmt})" >&2
        exit 1
    fi
done
if command -v protoc >/dev/null 2>&1; then
    echo "setup-system: protoc present ($(protoc --version))" >&2
    exit 0
fi
if [[ $(id -u) -ne 0 ]] || ! command -v apt-get >/dev/null 2>&1; then
    echo "setup-system: protoc is missing; install Debian's protobuf-compiler (apt-get install protobuf-compiler)" >&2
    exit 1
fi
echo "setup-system: installing protobuf-compiler" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get install -y -qq protobuf-compiler >/dev/null 2>&1 || {
    apt-get update -qq >/dev/null
    apt-get install -y -qq protobuf-compiler >/dev/null
}
echo "setup-system: $(protoc --version)" >&2
