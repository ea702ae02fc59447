#!/usr/bin/env bash
# System packages the build needs, installed from Debian only when missing (idempotent):
#   protobuf-compiler — candle-onnx compiles ONNX's protobuf schema at build time (`protoc`);
#   cmake — charls-sys and turbojpeg-sys build CharLS (JPEG-LS) and libjpeg-turbo (12-bit and
#           grey JPEG) for DICOM decoding from their bundled sources;
#   nasm — libjpeg-turbo's SIMD code.
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
# command -> Debian package; each installed only when its command is missing.
declare -A needed=(
    [protoc]=protobuf-compiler   # candle-onnx compiles ONNX's protobuf schema at build time
    [cmake]=cmake                # charls-sys and turbojpeg-sys build CharLS and libjpeg-turbo (DICOM)
    [nasm]=nasm                  # libjpeg-turbo's SIMD code (turbojpeg-sys requires it)
)
missing=()
for cmd in "${!needed[@]}"; do
    if command -v "$cmd" >/dev/null 2>&1; then
        echo "setup-system: $cmd present" >&2
    else
        missing+=("${needed[$cmd]}")
    fi
done
if [[ ${#missing[@]} -eq 0 ]]; then
    exit 0
fi
if [[ $(id -u) -ne 0 ]] || ! command -v apt-get >/dev/null 2>&1; then
    echo "setup-system: missing Debian packages: ${missing[*]} (apt-get install ${missing[*]})" >&2
    exit 1
fi
echo "setup-system: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get install -y -qq "${missing[@]}" >/dev/null 2>&1 || {
    apt-get update -qq >/dev/null
    apt-get install -y -qq "${missing[@]}" >/dev/null
}
echo "setup-system: $(protoc --version), $(cmake --version | head -1), $(nasm -v)" >&2
