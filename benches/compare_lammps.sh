#!/usr/bin/env bash
# Times `etwin bench` and LAMMPS (Debian `lmp`) back to back on the same states and prints
# particle-steps per second and their ratio, for 1 and 2 threads / MPI ranks.
#   ETWIN_DATA_DIR=../shared/research-data ETWIN_GOLDEN_DIR=../shared/golden benches/compare_lammps.sh [--json]
# (or `etwin bench --compare-lammps [--json]`, which runs this script with ETWIN_BIN set).
# Cases: gas (granular gas), thick (9859-particle relaxed slurry, set A). Needs `lmp`
# (apt-get install lammps) and, for 2 ranks, `mpirun`. --json prints
# {"rows": [{case, threads, etwin_particle_steps_per_s, lammps_particle_steps_per_s, ratio}]}.
set -euo pipefail
cd "$(dirname "$0")/.."
: "${ETWIN_DATA_DIR:?set ETWIN_DATA_DIR to the reference data folder}"
: "${ETWIN_GOLDEN_DIR:?set ETWIN_GOLDEN_DIR to the golden folder (for its LAMMPS model include)}"
command -v lmp >/dev/null || { echo "lmp not found: apt-get install lammps" >&2; exit 1; }
json=0
[ "${1:-}" = "--json" ] && json=1
source benches/common.sh
"$etwin" bench --cases none --write-gas-state "$tmp/gas.data" >/dev/null
thick=$ETWIN_DATA_DIR/artistic_structures/thick_slurry_relaxed.data
steps_gas=${STEPS_GAS:-1000}
steps_thick=${STEPS_THICK:-200}

lammps() { # np data model skin dt warm nsteps -> particle-steps/s of the last run
  local np=$1; shift
  local mpi=()
  [ "$np" -gt 1 ] && mpi=(mpirun --allow-run-as-root --oversubscribe -np "$np")
  "${mpi[@]}" lmp -in benches/lammps/in.nve.lmp -log "$tmp/log.lammps" -screen none \
    -var data "$1" -var model "$2" -var skin "$3" -var dt "$4" -var warm "$5" -var nsteps "$6" -var limit 0 >/dev/null
  python3 - "$tmp/log.lammps" <<'PY'
import re, sys
loops = re.findall(r"Loop time of ([0-9.eE+-]+) on \d+ procs for (\d+) steps with (\d+) atoms", open(sys.argv[1]).read())
t, s, n = loops[-1]
print(int(n) * int(s) / float(t))
PY
}

rows=$tmp/rows.jsonl
: >"$rows"
for np in 1 2; do
  "$etwin" --threads "$np" bench --json --cases gas,thick --steps-gas "$steps_gas" --steps-reference "$steps_thick" >"$tmp/etwin.json"
  l_gas=$(lammps "$np" "$tmp/gas.data" benches/lammps/model_gas.lmp 0.2 2e-4 2000 "$steps_gas")
  l_thick=$(lammps "$np" "$thick" "$ETWIN_GOLDEN_DIR/lammps/model_A.lmp" 1.0 0.001 20 "$steps_thick")
  python3 - "$tmp/etwin.json" "$np" "$l_gas" "$l_thick" >>"$rows" <<'PY'
import json, sys
cases = {c["name"]: c for c in json.load(open(sys.argv[1]))["cases"]}
np_, lg, lt = int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4])
for name, l in (("gas", lg), ("thick", lt)):
    e = cases[name]["particle_steps_per_s"]
    print(json.dumps({"case": name, "threads": np_, "simd": cases[name].get("simd", "scalar"),
                      "etwin_particle_steps_per_s": e, "lammps_particle_steps_per_s": l, "ratio": e / l}))
PY
done
python3 - "$rows" "$json" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
if sys.argv[2] == "1":
    print(json.dumps({"rows": rows}, indent=1))
else:
    print(f"{'case':<6} {'threads':<8} {'simd':<9} {'etwin[M p-s/s]':>16} {'LAMMPS[M p-s/s]':>16} {'ratio':>8}")
    for r in rows:
        print(f"{r['case']:<6} {r['threads']:<8} {r['simd']:<9} {r['etwin_particle_steps_per_s']/1e6:16.3f} "
              f"{r['lammps_particle_steps_per_s']/1e6:16.3f} {r['ratio']:8.2f}")
PY
