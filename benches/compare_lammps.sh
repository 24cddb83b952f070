#!/usr/bin/env bash
# Times `etwin bench` and LAMMPS (Debian `lmp`) back to back on the same states and prints
# particle-steps per second and their ratio, for 1 and 2 threads / MPI ranks.
#   ETWIN_DATA_DIR=../shared/research-data ETWIN_GOLDEN_DIR=../shared/golden benches/compare_lammps.sh [--json]
# (or `etwin bench --compare-lammps [--json]`, which runs this script with ETWIN_BIN set).
# Cases (set A for the slurries):
#   gas    the 19,683-sphere granular gas, NVE;
#   thick  the 9859-particle relaxed reference slurry, NVE;
#   npt    the 3945-particle reference system: coord_in.data after LAMMPS CG, the first
#          STEPS_NPT steps of the reference's NPT (LAMMPS `fix npt/sphere`, etwin's
#          NoseHoover ensemble);
#   nemd   the relaxed reference slurry sheared at 125 1/s (LAMMPS `fix nvt/sllod` +
#          `fix deform`, etwin's NEMD stage with the same thermostat).
# npt and nemd time whole stages: etwin's phase timer (its thermo sampling included)
# against LAMMPS' loop time, both with a 1 µm skin. Needs `lmp` (apt-get install lammps)
# and, for 2 ranks, `mpirun`. REPEAT=N (default 1) runs the whole comparison N times and
# reports medians: this machine's speed drifts by ±15 % from run to run, and the ratio of
# each back-to-back pair moves less than either figure. --json prints
# {"processor": {vendor, brand, family, model, stepping, half_width_avx2} (`etwin bench --json`'s),
#  "rows": [{case, threads, etwin_particle_steps_per_s, lammps_particle_steps_per_s, ratio,
#            ratio_min, ratio_max, repeats, core_round_trip_ns_max}]} (figures: medians over the
# repeats; the last: the slowest cache-line round trip between etwin's two threads [ns],
# null on 1 thread, see `bench::core_round_trip_ns`).
set -euo pipefail
cd "$(dirname "$0")/.."
: "${ETWIN_DATA_DIR:?set ETWIN_DATA_DIR to the reference data folder}"
: "${ETWIN_GOLDEN_DIR:?set ETWIN_GOLDEN_DIR to the golden folder (for its LAMMPS model include)}"
command -v lmp >/dev/null || { echo "lmp not found: apt-get install lammps" >&2; exit 1; }
json=0
[ "${1:-}" = "--json" ] && json=1
source benches/common.sh
# etwin's own line naming the processor, printed above the table.
"$etwin" bench --cases none --write-gas-state "$tmp/gas.data" >"$tmp/processor.txt"
processor_line=$(grep '^processor:' "$tmp/processor.txt" || true)
thick=$ETWIN_DATA_DIR/artistic_structures/thick_slurry_relaxed.data
steps_gas=${STEPS_GAS:-1000}
steps_thick=${STEPS_THICK:-200}
steps_npt=${STEPS_NPT:-4000}
steps_nemd=${STEPS_NEMD:-200}
repeat=${REPEAT:-1}

lammps() { # np data model skin dt warm nsteps -> particle-steps/s of the last run
  lmp_on "$1" -in benches/lammps/in.nve.lmp -log "$tmp/log.lammps" \
    -var data "$2" -var model "$3" -var skin "$4" -var dt "$5" -var warm "$6" -var nsteps "$7" -var limit 0
  loop_rate "$tmp/log.lammps"
}

# The reference system after LAMMPS' CG: the start of both codes' NPT.
{
  lammps_head "$ETWIN_DATA_DIR/lombardo2020_pso_ff/coord_in.data"
  lammps_minimize "$tmp/min.data"
} >"$tmp/min.lmp"
lmp_on 1 -in "$tmp/min.lmp" -log none
python3 benches/reference_scenario.py --start "$tmp/min.data" --npt "$steps_npt" --npt-every $((steps_npt / 10)) \
  --npt-stop "$(npt_ramp_stop "$steps_npt")" --npt-average 1.0 --no-nemd --no-files >"$tmp/npt.ron"
python3 benches/reference_scenario.py --start "$thick" --no-npt --no-files \
  --nemd 125 "$(python3 -c "print($steps_nemd * 125e-9)")" $((steps_nemd / 10)) >"$tmp/nemd.ron"
{
  lammps_head "$tmp/min.data"
  echo "neighbor        1.0 bin"
  lammps_npt "$steps_npt" $((steps_npt / 10))
} >"$tmp/npt.lmp"
lammps_shear "$thick" 125e-6 "$steps_nemd" $((steps_nemd / 10)) >"$tmp/nemd.lmp"

loop_rate() { # LAMMPS log -> particle-steps/s of its last run
  python3 - "$1" <<'PY'
import re, sys
loops = re.findall(r"Loop time of ([0-9.eE+-]+) on \d+ procs for (\d+) steps with (\d+) atoms", open(sys.argv[1]).read())
t, s, n = loops[-1]
print(int(n) * int(s) / float(t))
PY
}

stage() { # np name -> "etwin lammps" particle-steps/s of the npt or nemd stage
  local np=$1 name=$2
  "$etwin" --threads "$np" run "$tmp/$name.ron" --out "$tmp/out_$name" --json >"$tmp/$name.json" 2>"$tmp/err" ||
    { cat "$tmp/err" >&2; exit 1; }
  lmp_on "$np" -in "$tmp/$name.lmp" -log "$tmp/log.$name"
  python3 - "$tmp/$name.json" "$tmp/out_$name" "$name" "$(loop_rate "$tmp/log.$name")" <<'PY'
import json, sys
r, out, name, lammps = json.load(open(sys.argv[1])), sys.argv[2], sys.argv[3], float(sys.argv[4])
series = "npt" if name == "npt" else "nemd_0"
steps = int(float(open(f"{out}/{series}.csv").read().split()[-1].split(",")[0]))
print(sum(r["slurry"]["particles"].values()) * steps / r["timing"][series + "_s"], lammps)
PY
}

rows=$tmp/rows.jsonl
: >"$rows"
for np in $(for _ in $(seq "$repeat"); do echo 1 2; done); do
  "$etwin" --threads "$np" bench --json --cases gas,thick --steps-gas "$steps_gas" --steps-reference "$steps_thick" >"$tmp/etwin.json"
  l_gas=$(lammps "$np" "$tmp/gas.data" benches/lammps/model_gas.lmp 0.2 2e-4 2000 "$steps_gas")
  l_thick=$(lammps "$np" "$thick" "$ETWIN_GOLDEN_DIR/lammps/model_A.lmp" 1.0 0.001 20 "$steps_thick")
  npt=$(stage "$np" npt)
  nemd=$(stage "$np" nemd)
  read -r e_npt l_npt <<<"$npt"
  read -r e_nemd l_nemd <<<"$nemd"
  python3 - "$tmp/etwin.json" "$np" "$l_gas" "$l_thick" "$e_npt" "$l_npt" "$e_nemd" "$l_nemd" >>"$rows" <<'PY'
import json, sys
cases = {c["name"]: c for c in json.load(open(sys.argv[1]))["cases"]}
np_, v = int(sys.argv[2]), [float(a) for a in sys.argv[3:]]
rows = [(name, cases[name]["particle_steps_per_s"], l) for name, l in (("gas", v[0]), ("thick", v[1]))]
rows += [("npt", v[2], v[3]), ("nemd", v[4], v[5])]
# The slowest cache-line round trip between etwin's two cores in this round (none on 1).
trips = [t for c in cases.values() for t in c.get("core_round_trip_ns", [])]
for name, e, l in rows:
    print(json.dumps({"case": name, "threads": np_, "simd": cases["gas"].get("simd", "scalar"),
                      "etwin_particle_steps_per_s": e, "lammps_particle_steps_per_s": l, "ratio": e / l,
                      "core_round_trip_ns": max(trips, default=None)}))
PY
done
[ "$json" = 1 ] || [ -z "$processor_line" ] || echo "$processor_line"
python3 - "$rows" "$json" "$tmp/etwin.json" <<'PY'
import json, statistics, sys
processor = json.load(open(sys.argv[3])).get("processor")
runs = {}
for line in open(sys.argv[1]):
    r = json.loads(line)
    runs.setdefault((r["case"], r["threads"]), []).append(r)
rows = []
for (case, threads), rs in runs.items():
    ratios = [r["ratio"] for r in rs]
    rows.append({"case": case, "threads": threads, "simd": rs[0]["simd"],
                 "etwin_particle_steps_per_s": statistics.median(r["etwin_particle_steps_per_s"] for r in rs),
                 "lammps_particle_steps_per_s": statistics.median(r["lammps_particle_steps_per_s"] for r in rs),
                 "ratio": statistics.median(ratios), "ratio_min": min(ratios), "ratio_max": max(ratios),
                 "repeats": len(rs),
                 "core_round_trip_ns_max": max((r["core_round_trip_ns"] for r in rs if r["core_round_trip_ns"]), default=None)})
rows.sort(key=lambda r: (r["threads"], ["gas", "thick", "npt", "nemd"].index(r["case"])))
if sys.argv[2] == "1":
    print(json.dumps({"processor": processor, "rows": rows}, indent=1))
else:
    print(f"{'case':<6} {'threads':<8} {'simd':<9} {'etwin[M p-s/s]':>16} {'LAMMPS[M p-s/s]':>16} {'ratio':>8} {'range':>12} {'cores[ns]':>10}")
    for r in rows:
        trip = r["core_round_trip_ns_max"]
        print(f"{r['case']:<6} {r['threads']:<8} {r['simd']:<9} {r['etwin_particle_steps_per_s']/1e6:16.3f} "
              f"{r['lammps_particle_steps_per_s']/1e6:16.3f} {r['ratio']:8.2f} {r['ratio_min']:5.2f}–{r['ratio_max']:.2f}"
              f" {'' if trip is None else f'{trip:10.0f}'}")
    if any(r["core_round_trip_ns_max"] for r in rows):
        print("cores: the slowest round trip of a cache line between etwin's two threads over the repeats,"
              " measured around its gas and thick runs; a few hundred ns means the host had put the two"
              " cores apart (no shared cache), which slows every 2-thread figure")
PY
