#!/usr/bin/env bash
# The viewer's headless check (issue: interactive 3D viewer, must-show 1): under Xvfb with
# Mesa's software Vulkan (Debian xvfb + mesa-vulkan-drivers, installed when missing and we
# are root), `etwin view out/chain_quick --screenshot shot.png` on a fresh chain_quick run,
# with a map trained on the reference data when ETWIN_DATA_DIR is set; then the pixel
# criteria of tests/viewer_shot.rs on the PNG. Prints the viewer's frame times.
# Exit 0: pass; 1: fail; 2: no X server / software Vulkan can run in this environment.
#   [ETWIN_SIM_BIN=path/to/etwin] tests/viewer_check.sh [path/to/etwin built with --features viewer] [keep/shot.png]
# ETWIN_SIM_BIN runs chain_quick and trains the map (default: the viewer's binary); the CI
# sets it to the optimized test build, as its viewer build is unoptimized.
set -euo pipefail
cd "$(dirname "$0")/.."
etwin="$(realpath "${1:-target/release/etwin}")"
[ -x "$etwin" ] || { echo "build first: cargo build --release --features viewer"; exit 2; }
sim="$(realpath "${ETWIN_SIM_BIN:-$etwin}")"
[ -x "$sim" ] || { echo "ETWIN_SIM_BIN=$sim is not an executable"; exit 1; }
if ! command -v xvfb-run >/dev/null || ! ls /usr/share/vulkan/icd.d/lvp_icd*.json >/dev/null 2>&1; then
    [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null || { echo "xvfb / mesa-vulkan-drivers are missing and cannot be installed (not root or no apt-get)"; exit 2; }
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq xvfb xauth mesa-vulkan-drivers libvulkan1 >/dev/null; } \
        || { echo "cannot install xvfb / mesa-vulkan-drivers here"; exit 2; }
fi
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
"$sim" run scenarios/chain_quick.ron --out "$work/chain_quick" > "$work/run.log" 2>&1 \
    || { cat "$work/run.log"; echo "viewer check: chain_quick failed"; exit 1; }
model=()
if [ -n "${ETWIN_DATA_DIR:-}" ]; then
    "$sim" map train --data "$ETWIN_DATA_DIR/cunha2020_nmc_ml/full_dataset_mass_loading_porosity.csv" --out "$work/map.json" > /dev/null
    model=(--model "$work/map.json")
fi
shot="$work/shot.png"
set +e
xvfb-run -a -s "-screen 0 1280x800x24" \
    "$etwin" view "$work/chain_quick" "${model[@]}" --screenshot "$shot" --frames 30 --width 1280 --height 800 \
    > "$work/view.log" 2>&1
rc=$?
set -e
grep -E "^viewer:" "$work/view.log" || true
[ $rc = 0 ] || { tail -30 "$work/view.log"; echo "viewer check: etwin view failed ($rc)"; exit 1; }
[ -n "${2:-}" ] && cp "$shot" "$2"
ETWIN_VIEWER_SHOT="$shot" cargo test --release --locked --test viewer_shot -- --ignored --nocapture
