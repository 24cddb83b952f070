#!/usr/bin/env bash
# Slurry density against the reference's PSO log (results_0_example.csv): for each chosen
# log row, the reference protocol (coord_in.data minimized, then Nosé–Hoover NPT as LAMMPS
# `fix npt/sphere temp 300 300 0.06 iso 0 100 1000`, target 0 → 100 kPa) with the ramp
# shortened to STEPS (default 130,000 of the reference's 13,000,000), at that row's
# parameters; prints our density (AM + wet CBD beads over V, averaged over the last 2 %
# of the ramp, 98–100 kPa, with its standard error) beside the log's, and the wall time.
#   ETWIN_DATA_DIR=../shared/research-data benches/slurry_reference.sh [ITER:POP ...]
# Default rows: 54:0 (set A, the best fit), 0:0 (set B, the human start), 0:1.
# About 6–9 min per row on this 2-core machine. KEEP=DIR keeps each row's run folder as
# DIR/ITER:POP (its slurry.data is the relaxed slurry benches/nemd_lammps_check.sh starts
# from).
# SHEAR_STRAIN=S also shears the relaxed slurry at 125 1/s to strain S with the scenario's
# shear (the reference's nvt/sllod) and prints η = −⟨p_xy⟩/γ̇ over the last half beside
# the log's viscosity2 ± std2 (reached at strain ≈ 8.75). S = 0.0125 is 100,000 steps:
# rows 54:0 and 0:0 side by side, 1 thread each, took 3490 and 2629 s in all on 2026-12-02;
# at f710c9e, each alone with 2 threads, 491 and 342 s (0:1: 347 s).
set -euo pipefail
cd "$(dirname "$0")/.."
: "${ETWIN_DATA_DIR:?set ETWIN_DATA_DIR to the reference data folder}"
steps=${STEPS:-130000}
rows=("$@")
[ ${#rows[@]} -eq 0 ] && rows=(54:0 0:0 0:1)
source benches/common.sh
log=$ETWIN_DATA_DIR/lombardo2020_pso_ff/results_0_example.csv
shear=${SHEAR_STRAIN:-}
printf '%-6s %-8s %-18s %-10s %-9s %-8s' "row" "wall[s]" "density[g/cm3]" "log" "diff[%]" "V[um3]"
[ -n "$shear" ] && printf ' %-20s %-16s %-8s' "eta125[Pa.s]" "log" "diff[%]"
printf '\n'
for row in "${rows[@]}"; do
  if [ -n "$shear" ]; then # 40 samples at 125 1/s and dt = 0.001 µs
    nemd=(--nemd 125 "$shear" "$(python3 -c "print(max(1, round($shear / (125e-6 * 0.001) / 40)))")")
  else
    nemd=(--no-nemd)
  fi
  python3 benches/reference_scenario.py --row "$row" --npt "$steps" --npt-every $((steps / 1000)) \
    --npt-average 0.02 "${nemd[@]}" >"$tmp/s.ron"
  t0=$(date +%s)
  "$etwin" run "$tmp/s.ron" --out "$tmp/out" --json >"$tmp/r.json" 2>"$tmp/err" || { cat "$tmp/err" >&2; exit 1; }
  t1=$(date +%s)
  if [ -n "${KEEP:-}" ]; then mkdir -p "$KEEP" && rm -rf "${KEEP:?}/$row" && cp -r "$tmp/out" "$KEEP/$row"; fi
  python3 - "$tmp/r.json" "$log" "$row" "$((t1 - t0))" "$tmp/out/npt.csv" <<'PY'
import csv, json, sys
r = json.load(open(sys.argv[1]))["slurry"]
row, wall = sys.argv[3], sys.argv[4]
it, pop = row.split(":")
lr = next(x for x in csv.DictReader(open(sys.argv[2])) if x["Iteration"] == it and x["#Pop"] == pop)
logd, logv, logs = (float(lr[k]) for k in ("density", "viscosity2", "std2"))
v = open(sys.argv[5]).read().strip().split("\n")[-1].split(",")[6]
d, se = r["density_g_cm3"], r["density_stderr_g_cm3"]
line = f"{row:<6} {wall:<8} {d:.4f} ± {se:.4f}    {logd:<10.4f} {100 * (d - logd) / logd:<+9.2f} {float(v):<8.0f}"
if r["viscosity"]:
    p = r["viscosity"][0]
    eta, ese, lv, ls = p["viscosity_pa_s"], p["stderr_pa_s"], logv * 1e-3, logs * 1e-3  # mPa·s → Pa·s
    line += f" {eta:.3f} ± {ese:.3f}        {lv:.3f} ± {ls:.3f}    {100 * (eta - lv) / lv:<+8.1f}"
print(line)
PY
done
