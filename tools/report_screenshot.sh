#!/bin/sh
# A picture of a run report page: tools/report_screenshot.sh demo/report.html docs/report.png [WIDTH HEIGHT]
# (Debian's chromium, headless, offline; the README's screenshot is made this way from the demo's report).
set -eu
[ $# -ge 2 ] || { echo "usage: $0 REPORT.html OUT.png [WIDTH HEIGHT]" >&2; exit 2; }
page=$(realpath "$1"); png=$(realpath -m "$2")
chromium=$(command -v chromium || command -v chromium-browser) || { echo "$0: chromium is not installed (apt-get install chromium)" >&2; exit 1; }
profile=$(mktemp -d); trap 'rm -rf "$profile"' EXIT
"$chromium" --headless --no-sandbox --disable-gpu --disable-background-networking --disable-component-update \
    --disable-sync --no-first-run --host-resolver-rules="MAP * ~NOTFOUND" --hide-scrollbars --user-data-dir="$profile" \
    --window-size="${3:-1280},${4:-2400}" --screenshot="$png.tmp.png" "file://$page" > /dev/null 2>&1
mv "$png.tmp.png" "$png"
echo "wrote $png"
