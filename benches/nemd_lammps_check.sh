#!/usr/bin/env bash
# The reference's NEMD, side by side: LAMMPS `fix nvt/sllod temp 298 298 0.1` with
# `fix deform 1 xy erate γ̇ remap v` (the reference's shear; translation only) and etwin's
# NEMD phase (SLLOD on lab velocities; ensemble: NoseHoover with thermostat_chain: 1 and
# streaming_origin: Bottom, as nvt/sllod's single thermostat and temp/deform's bias;
# rotate: false), both from the same relaxed slurry with the same centred streaming
# profile imposed at the start, at set A (golden/lammps/model_A.lmp =
# scenarios/forcefields/lombardo2020_best.ron). Prints p_xy and the thermostat's
# temperature along the strain, their largest relative differences, and η = −⟨p_xy⟩/γ̇
# over the last half with block standard errors; exits non-zero if the two η differ by
# more than 3 combined standard errors + 1 % (the codes are not bit-identical, and over
# long runs roundoff grows; 3000 steps at 125 1/s agree to 4e-7 in p_xy; README).
#   ETWIN_DATA_DIR=../shared/research-data ETWIN_GOLDEN_DIR=../shared/golden \
#     RATE=20000 STRAIN=0.4 benches/nemd_lammps_check.sh SLURRY.data
# SLURRY.data: a relaxed set-A slurry, e.g. `KEEP=DIR benches/slurry_reference.sh 54:0`
# leaves it as DIR/54:0/slurry.data. Needs `lmp` (apt-get install lammps).
# Steps: STRAIN / (RATE · 1e-9) at dt = 0.001 µs (20,000 for the defaults).
set -euo pipefail
cd "$(dirname "$0")/.."
: "${ETWIN_GOLDEN_DIR:?set ETWIN_GOLDEN_DIR to the golden folder (for its LAMMPS model include)}"
command -v lmp >/dev/null || { echo "lmp not found: apt-get install lammps" >&2; exit 1; }
data=$(realpath "${1:?usage: benches/nemd_lammps_check.sh SLURRY.data}")
rate=${RATE:-20000}
strain=${STRAIN:-0.4}
read -r erate steps every < <(python3 -c "r=$rate*1e-6; n=round($strain/(r*0.001)); print(r, n, max(1, n//40))")
source benches/common.sh

lammps_shear "$data" "$erate" "$steps" "$every" >"$tmp/in.lmp"
t0=$(date +%s)
lmp_on 1 -in "$tmp/in.lmp" -log "$tmp/log.lammps"
t1=$(date +%s)

python3 benches/reference_scenario.py --start "$data" --no-npt --nemd "$rate" "$strain" "$every" --no-files >"$tmp/check.ron"
"$etwin" run "$tmp/check.ron" --out "$tmp/out" --json >"$tmp/r.json" 2>"$tmp/err" || { cat "$tmp/err" >&2; exit 1; }
t2=$(date +%s)

python3 - "$tmp/log.lammps" "$tmp/out" "$tmp/r.json" "$erate" "$((t1 - t0))" "$((t2 - t1))" <<'PY'
import csv, glob, json, math, sys
log, out, res, erate, wl, we = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4]), sys.argv[5], sys.argv[6]
lmp = []
temp = {}
block = open(log).read().split("Step c_pdef[4] c_tdef")[-1]
for line in block.splitlines()[1:]:
    f = line.split()
    if len(f) != 3 or not f[0].isdigit():
        break
    lmp.append((int(f[0]), float(f[1])))
    temp[int(f[0])] = float(f[2])
rows = list(csv.DictReader(open(glob.glob(out + "/nemd*.csv")[0])))
ours = [(int(float(r["step"])), float(r["pxy[kPa]"])) for r in rows]
ours_t = {int(float(r["step"])): float(r["temperature[K]"]) for r in rows}
def eta(rows, blocks=10):
    n = len(rows)
    tail = [p for _, p in rows[n - n // 2:]]
    m = len(tail) // blocks
    means = [sum(tail[b * m:(b + 1) * m]) / m for b in range(blocks)]
    mu = sum(means) / blocks
    se = math.sqrt(sum((x - mu) ** 2 for x in means) / (blocks * (blocks - 1)))
    return -mu / erate * 1e-3, se / erate * 1e-3   # kPa·µs = mPa·s → Pa·s
o = dict(ours)
nan = float("nan")
print(f"{'step':>8} {'strain':>8} {'pxy lammps [kPa]':>17} {'pxy etwin [kPa]':>16} {'T lammps [K]':>13} {'T etwin [K]':>12}")
for s, p in lmp[:: max(1, len(lmp) // 10)]:
    print(f"{s:>8} {s * erate * 0.001:>8.5f} {p:>17.4f} {o.get(s, nan):>16.4f} {temp[s]:>13.1f} {ours_t.get(s, nan):>12.1f}")
worst = max(abs(o[s] / p - 1) for s, p in lmp if s in o and p != 0)
worst_t = max(abs(ours_t[s] / temp[s] - 1) for s, _ in lmp if s in ours_t)
print(f"largest relative difference over {sum(s in o for s, _ in lmp)} samples: p_xy {worst:.1e}, T {worst_t:.1e}")
(el, sl), (eo, so) = eta(lmp), eta(ours)
r = json.load(open(res))["slurry"]["viscosity"][0]
print(f"eta lammps {el:.4f} ± {sl:.4f} Pa·s ({wl} s)   etwin {eo:.4f} ± {so:.4f} Pa·s ({we} s; results.json "
      f"{r['viscosity_pa_s']:.4f} ± {r['stderr_pa_s']:.4f})")
z = abs(el - eo) / math.hypot(sl, so)
print(f"difference {100 * (eo - el) / el:+.2f} % = {z:.1f} combined standard errors (allowed: 3 + 1 %)")
sys.exit(0 if abs(el - eo) <= 3 * math.hypot(sl, so) + 0.01 * el else 1)
PY
