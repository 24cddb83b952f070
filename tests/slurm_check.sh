#!/usr/bin/env bash
# A real Slurm check of `etwin sweep slurm`: a one-node cluster on localhost (Debian's
# slurm-wlm + munge, installed when missing and we are root), the generated array script
# for scenarios/sweep_quick.ron submitted, waited for, merged by its dependent job, and the
# table compared with a local unsharded run. Needs root (daemons) and about 75 s.
# Exit 0: pass; 1: fail; 2: Slurm cannot run in this environment.
#   tests/slurm_check.sh [path/to/etwin]
set -euo pipefail
cd "$(dirname "$0")/.."
etwin="$(realpath "${1:-target/release/etwin}")"
[ -x "$etwin" ] || { echo "build first: cargo build --release"; exit 2; }
if ! command -v slurmctld >/dev/null || ! command -v munged >/dev/null; then
    [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null || { echo "slurm-wlm is not installed and cannot be (not root or no apt-get)"; exit 2; }
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq slurm-wlm munge >/dev/null; } \
        || { echo "cannot install slurm-wlm here"; exit 2; }
fi
work="$(mktemp -d)"
host="$(hostname)"
cat > "$work/slurm.conf" <<CONF
ClusterName=etwin
SlurmctldHost=$host
AuthType=auth/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SlurmUser=root
SlurmdUser=root
StateSaveLocation=$work/state
SlurmdSpoolDir=$work/spool
SlurmctldPidFile=$work/slurmctld.pid
SlurmdPidFile=$work/slurmd.pid
SlurmctldLogFile=$work/slurmctld.log
SlurmdLogFile=$work/slurmd.log
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
MpiDefault=none
ReturnToService=2
NodeName=$host CPUs=$(nproc) State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP
CONF
mkdir -p "$work/state" "$work/spool" /run/munge
export SLURM_CONF="$work/slurm.conf"
cleanup() {
    for p in slurmd slurmctld; do
        [ -f "$work/$p.pid" ] && kill "$(cat "$work/$p.pid")" 2>/dev/null || true
    done
}
trap cleanup EXIT
[ -f /etc/munge/munge.key ] || mungekey -c
chown munge:munge /run/munge 2>/dev/null || true
pgrep -x munged >/dev/null || munged --force
slurmctld -f "$SLURM_CONF"
slurmd -f "$SLURM_CONF"
for _ in $(seq 30); do sinfo -h -o %T 2>/dev/null | grep -q idle && break; sleep 1; done
sinfo -h -o %T 2>/dev/null | grep -q idle || { echo "the one-node cluster did not come up:"; tail "$work"/*.log; exit 2; }
sinfo

sweep="$(realpath scenarios/sweep_quick.ron)"
"$etwin" --threads 2 sweep "$sweep" --out "$work/local" >/dev/null
"$etwin" sweep slurm "$sweep" --array 2 --cpus 1 --time 00:30:00 --out "$work/cluster"
sbatch --test-only "$work/cluster/sweep_array.sbatch"
bash "$work/cluster/submit.sh"
for _ in $(seq 600); do
    [ -z "$(squeue -h)" ] && break
    sleep 1
done
[ -z "$(squeue -h)" ] || { echo "FAIL: jobs still queued after 10 minutes"; squeue; exit 1; }
if cmp "$work/local/results.csv" "$work/cluster/results.csv"; then
    echo "PASS: the Slurm array + merge table equals the local run ($(($(wc -l < "$work/local/results.csv") - 1)) cases)"
else
    echo "FAIL: tables differ"; cat "$work"/cluster/slurm-*.out; exit 1
fi
