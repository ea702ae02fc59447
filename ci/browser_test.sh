#!/usr/bin/env bash
# Opens a report.html in headless Chromium and checks that it renders as a reader would see it:
#   1. the rendered DOM has as many <svg> figures as the page declares in
#      <meta name="figure-count" content="N">;
#   2. the browser logged no console error and no uncaught exception;
#   3. a full-page screenshot is written next to the report (or to OUT_DIR).
# Installs Debian's chromium when missing and running as root; otherwise prints SKIP and exits 0.
#
# Usage: ci/browser_test.sh REPORT.html [OUT_DIR]
set -euo pipefail

report=${1:?usage: ci/browser_test.sh REPORT.html [OUT_DIR]}
if [[ ! -f $report ]]; then
    echo "browser_test: FAIL: $report: no such file" >&2
    exit 1
fi
report=$(cd "$(dirname "$report")" && pwd)/$(basename "$report")
out=${2:-$(dirname "$report")}
mkdir -p "$out"

browser=$(command -v chromium || command -v chromium-browser || true)
if [[ -z $browser ]]; then
    if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null; then
        echo "browser_test: installing Debian chromium"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq >/dev/null
        apt-get install -y -qq chromium >/dev/null
        browser=$(command -v chromium)
    else
        echo "================================================================"
        echo "browser_test: SKIP: chromium is not installed and this is not root"
        echo "(install it with: apt-get install -y chromium)"
        echo "================================================================"
        exit 0
    fi
fi

expected=$(sed -n 's/.*<meta name="figure-count" content="\([0-9][0-9]*\)".*/\1/p' "$report" | head -n 1)
if [[ -z $expected ]]; then
    echo "browser_test: FAIL: $report has no <meta name=\"figure-count\" content=\"N\">" >&2
    exit 1
fi

profile=$(mktemp -d)
trap 'rm -rf "$profile"' EXIT
flags=(--headless --no-sandbox --disable-gpu --disable-quic --no-first-run
    --disable-background-networking --disable-component-update --disable-sync
    --user-data-dir="$profile")
url="file://$report"
status=0

# 1. Figures in the rendered DOM.
dom=$out/report.dom.html
"$browser" "${flags[@]}" --dump-dom "$url" >"$dom" 2>"$out/chromium-dom.log" || {
    echo "browser_test: FAIL: chromium --dump-dom exited with $?" >&2
    status=1
}
rendered=$(grep -o '<svg' "$dom" | wc -l | tr -d ' ')
if [[ $rendered -ne $expected ]]; then
    echo "browser_test: FAIL: $rendered <svg> figures rendered, the page declares $expected" >&2
    status=1
else
    echo "browser_test: ok: $rendered of $expected figures rendered"
fi

# 2 and 3. Console errors while rendering, and a screenshot.
log=$out/chromium-console.log
"$browser" "${flags[@]}" --enable-logging=stderr --v=0 --window-size=1280,4000 \
    --screenshot="$out/report.png" "$url" >/dev/null 2>"$log" || {
    echo "browser_test: FAIL: chromium --screenshot exited with $?" >&2
    status=1
}
if grep -E 'CONSOLE|Uncaught' "$log" >"$out/console-errors.txt"; then
    echo "browser_test: FAIL: the browser logged console messages:" >&2
    cat "$out/console-errors.txt" >&2
    status=1
else
    echo "browser_test: ok: no console error"
fi
if [[ -s $out/report.png ]]; then
    echo "browser_test: ok: screenshot $out/report.png"
else
    echo "browser_test: FAIL: no screenshot was written" >&2
    status=1
fi

if [[ $status -eq 0 ]]; then
    echo "browser_test: PASS ($report)"
else
    echo "browser_test: FAIL ($report)" >&2
fi
exit $status
