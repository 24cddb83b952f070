# Sourced by the bench scripts from the repository root: sets $etwin (ETWIN_BIN, or a
# fresh release build) and $tmp, a scratch folder removed on exit; defines lammps_head.
if [ -n "${ETWIN_BIN:-}" ]; then
  etwin=$ETWIN_BIN
else
  cargo build --release --quiet
  etwin=${CARGO_TARGET_DIR:-target}/release/etwin
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# The head of a LAMMPS input for the reference model (set A) on the data file $1.
lammps_head() {
  cat <<EOF
units           micro
atom_style      sphere
boundary        p p p
comm_modify     vel yes
read_data       $1
include         $ETWIN_GOLDEN_DIR/lammps/model_A.lmp
neighbor        3.0 bin
EOF
}
