#!/usr/bin/env bash
# Opens a report.html in headless Chromium and checks that it renders as a reader would see it:
#   1. the rendered DOM has as many <svg> figures as the page declares in
#      <meta name="figure-count" content="N">;
#   2. every <figure id="fig-ID"> of the page holds an SVG with marks and text in it (the ROC
#      curves, reliability and forest plots of each candidate, the ROC overlay of all candidates,
#      the latency CDF panels, the latency percentile dot plot, the throughput bars);
#   3. when the report has its figures/ folder (a bundle, or write_report's output), it holds
#      figures/ID.svg for exactly the figures the page shows, and each renders on its own at its
#      own size: OUT_DIR/figures/ID.png, one screenshot per figure, to look at;
#   4. the browser logged no console error and no uncaught exception;
#   5. a screenshot of the page (1280 px wide, the first 4000 px) is written next to the report
#      (or to OUT_DIR).
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

# 2. Each figure of the page holds a drawn SVG: marks (lines, paths, markers, bars) and text.
# Chromium serialises the SVG as plotters wrote it, one element a line.
listing=$(awk '
    /<figure id="fig-/ {
        match($0, /<figure id="fig-[^"]*"/)
        id = substr($0, RSTART + 16, RLENGTH - 17); svg = 0; marks = 0; text = 0
    }
    id != "" && /<svg/ { svg = 1 }
    id != "" && /<(polyline|path|circle|rect|polygon)[ >]/ { marks = 1 }
    id != "" && /<text/ { text = 1 }
    id != "" && /<\/figure>/ { print id, svg, marks, text; id = "" }
' "$dom")
ids=()
while read -r id svg marks text; do
    [[ -n $id ]] || continue
    ids+=("$id")
    if [[ $svg != 1 || $marks != 1 || $text != 1 ]]; then
        echo "browser_test: FAIL: figure $id: svg $svg, marks $marks, text $text (1 = present)" >&2
        status=1
    fi
done <<<"$listing"
if [[ ${#ids[@]} -ne $expected ]]; then
    echo "browser_test: FAIL: ${#ids[@]} <figure> elements, the page declares $expected" >&2
    status=1
else
    echo "browser_test: ok: every figure holds a drawn SVG: ${ids[*]}"
fi

# 3. The figure files: the same figures as the page, each rendering on its own.
figdir=$(dirname "$report")/figures
if [[ -d $figdir ]]; then
    mkdir -p "$out/figures"
    files=$(cd "$figdir" && { ls -- *.svg 2>/dev/null || true; } | sed 's/\.svg$//' | sort)
    shown=$(printf '%s\n' "${ids[@]}" | sort)
    if [[ $files != "$shown" ]]; then
        echo "browser_test: FAIL: figures/*.svg and the page's figures differ:" >&2
        { diff <(echo "$shown") <(echo "$files") || true; } | sed -n 's/^</  only in the page:/p; s/^>/  only in figures\//p' >&2
        status=1
    fi
    drawn=0
    for id in "${ids[@]}"; do
        svg=$figdir/$id.svg
        [[ -f $svg ]] || continue
        # plotters writes <svg width="W" height="H" ...>: screenshot the figure at its size.
        read -r w h < <(sed -n 's/.*<svg[^>]* width="\([0-9]*\)" height="\([0-9]*\)".*/\1 \2/p' "$svg" | head -n 1) || true
        png=$out/figures/$id.png
        rm -f "$png"
        "$browser" "${flags[@]}" --enable-logging=stderr --v=0 --hide-scrollbars \
            --window-size="${w:-800},${h:-600}" --screenshot="$png" "file://$svg" \
            >/dev/null 2>"$out/figures/$id.log" || true
        if [[ ! -s $png ]]; then
            echo "browser_test: FAIL: figures/$id.svg did not render" >&2
            status=1
        elif grep -E 'CONSOLE|Uncaught' "$out/figures/$id.log" >&2; then
            echo "browser_test: FAIL: figures/$id.svg: the browser logged the messages above" >&2
            status=1
        else
            drawn=$((drawn + 1))
        fi
    done
    echo "browser_test: ok: $drawn figure files rendered on their own: $out/figures/*.png"
else
    echo "browser_test: note: no figures/ folder next to the report: figure files not checked"
fi

# 4 and 5. Console errors while rendering the page, and a screenshot.
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
