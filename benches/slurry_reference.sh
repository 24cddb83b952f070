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
# rows 54:0 and 0:0 side by side, 1 thread each, took 3490 and 2629 s in all.
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
  python3 - "$log" "$row" scenarios/lombardo2020_slurry.ron "$steps" "$tmp/s.ron" "$shear" <<'PY'
import csv, re, sys
log, row, src, steps, out, shear = sys.argv[1:7]
it, pop = row.split(":")
r = next(r for r in csv.DictReader(open(log)) if r["Iteration"] == it and r["#Pop"] == pop)
s = open(src).read()
ff = ("Inline(ReferenceModel(name: \"PSO log %s\", eps_am: %s, w_sigma: %s, eps_cb: %s, "
      "d_cbd: %s, rho_cbd: %s, kn: %s, gamma_n: %s, xu: %s))") % (
    row, r["Epsiam"], r["Sigma"], r["Epsicb"], r["dCBD"], r["RhoCBD"], r["Kn"], r["Gamma"], r["Xu"])
s = re.sub(r'forcefield: File\("[^"]*"\)', "forcefield: " + ff, s)
s = re.sub(r'(npt: \(\s*steps: )\d+', r'\g<1>' + steps, s)
s = re.sub(r'(npt: \((?:.|\n)*?sample_every: )\d+', r'\g<1>' + str(int(steps) // 1000), s)
s = re.sub(r'(npt: \((?:.|\n)*?average_last: )[0-9.]+', r'\g<1>0.02', s)
if shear:
    # 40 samples at 125 1/s and dt = 0.001 µs.
    every = max(1, round(float(shear) / (125e-6 * 0.001) / 40))
    s = re.sub(r'shear_rates: \[[^]]*\]', 'shear_rates: ["125 1/s"]', s)
    s = re.sub(r'(nemd: Some\(\((?:.|\n)*?strain: )[0-9.]+,[^\n]*', r'\g<1>' + shear + ",", s)
    s = re.sub(r'(nemd: Some\(\((?:.|\n)*?sample_every: )\d+', r'\g<1>' + str(every), s)
else:
    s = re.sub(r'nemd: Some\(\((.|\n)*?\)\),\n', 'nemd: None,\n', s)
open(out, "w").write(s)
open(out + ".log", "w").write(" ".join([r["density"], r["viscosity2"], r["std2"]]))
PY
  t0=$(date +%s)
  "$etwin" run "$tmp/s.ron" --out "$tmp/out" --json >"$tmp/r.json" 2>"$tmp/err" || { cat "$tmp/err" >&2; exit 1; }
  t1=$(date +%s)
  if [ -n "${KEEP:-}" ]; then mkdir -p "$KEEP" && rm -rf "${KEEP:?}/$row" && cp -r "$tmp/out" "$KEEP/$row"; fi
  python3 - "$tmp/r.json" "$(cat "$tmp/s.ron.log")" "$row" "$((t1 - t0))" "$tmp/out/npt.csv" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))["slurry"]
(logd, logv, logs), row, wall = map(float, sys.argv[2].split()), sys.argv[3], sys.argv[4]
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
