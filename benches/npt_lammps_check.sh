#!/usr/bin/env bash
# The reference's NPT, side by side: LAMMPS `fix npt/sphere temp 300 300 0.06 iso 0 100 1000`
# and etwin's NoseHoover ensemble, both from the reference's coord_in.data after LAMMPS CG
# minimization, for the first N steps of the reference's 13,000,000-step ramp (target
# 0 → 100·N/13e6 kPa). Prints volume and temperature every N/10 steps and their relative
# differences; exits non-zero if the final volumes differ by more than 1 %.
#   ETWIN_DATA_DIR=../shared/research-data ETWIN_GOLDEN_DIR=../shared/golden \
#     benches/npt_lammps_check.sh [N=40000]
# Needs `lmp` (apt-get install lammps). About 1.5 min for N = 40000 on this 2-core machine.
set -euo pipefail
cd "$(dirname "$0")/.."
: "${ETWIN_DATA_DIR:?set ETWIN_DATA_DIR to the reference data folder}"
: "${ETWIN_GOLDEN_DIR:?set ETWIN_GOLDEN_DIR to the golden folder (for its LAMMPS model include)}"
command -v lmp >/dev/null || { echo "lmp not found: apt-get install lammps" >&2; exit 1; }
n=${1:-40000}
every=$((n / 10))
source benches/common.sh

{
  lammps_head "$ETWIN_DATA_DIR/lombardo2020_pso_ff/coord_in.data"
  lammps_minimize "$tmp/min.data"
  lammps_npt "$n" "$every"
} >"$tmp/in.lmp"
lmp_on 1 -in "$tmp/in.lmp" -log "$tmp/log.lammps"

python3 benches/reference_scenario.py --start "$tmp/min.data" --npt "$n" --npt-stop "$(npt_ramp_stop "$n")" --npt-every "$every" \
  --npt-average 1.0 --no-nemd >"$tmp/check.ron"
"$etwin" run "$tmp/check.ron" --out "$tmp/out" --json >/dev/null 2>"$tmp/err" || { cat "$tmp/err" >&2; exit 1; }

python3 - "$tmp/log.lammps" "$tmp/out/npt.csv" <<'PY'
import csv, re, sys
rows = {}
block = open(sys.argv[1]).read().split("Step Temp Press Volume")[-1]
for line in block.splitlines()[1:]:
    f = line.split()
    if len(f) != 4 or not f[0].isdigit():
        break
    rows[int(f[0])] = [float(f[1]), float(f[3])]
ours = {int(float(r["step"])): r for r in csv.DictReader(open(sys.argv[2]))}
print(f"{'step':>8} {'V lammps [um3]':>15} {'V etwin [um3]':>15} {'dV/V':>9} {'T lammps [K]':>13} {'T etwin [K]':>12}")
worst = last = 0.0
for step in sorted(s for s in rows if s in ours):
    tl, vl = rows[step]
    vo, to = float(ours[step]["volume[um3]"]), float(ours[step]["temperature[K]"])
    last = (vo - vl) / vl
    worst = max(worst, abs(last))
    print(f"{step:>8} {vl:>15.1f} {vo:>15.1f} {last:>9.2e} {tl:>13.1f} {to:>12.1f}")
print(f"largest |dV/V| {worst:.2e}; final {last:.2e}")
sys.exit(0 if abs(last) < 0.01 else 1)
PY
