# Sourced by the bench scripts from the repository root: sets $etwin (ETWIN_BIN, or a
# fresh release build) and $tmp, a scratch folder removed on exit; defines lammps_head and
# lammps_shear.
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
# The reference's shear of the data file $1 as a LAMMPS input: `fix nvt/sllod temp 298 298
# 0.1` + `fix deform 1 xy erate $2 remap v` (erate in 1/µs) from a centred `velocity ramp`,
# $3 steps, printing p_xy and temp/deform's temperature every $4 steps; 1 µm skin, as etwin.
lammps_shear() {
  lammps_head "$1"
  cat <<EOF
neighbor        1.0 bin
change_box      all triclinic
timestep        0.001
variable        vlo equal -0.5*$2*ly
variable        vhi equal 0.5*$2*ly
velocity        all ramp vx \${vlo} \${vhi} y \$(ylo) \$(yhi) sum yes units box
fix             sllod all nvt/sllod temp 298 298 0.1
fix             shear all deform 1 xy erate $2 remap v
compute         tdef all temp/deform
compute         pdef all pressure tdef
thermo_style    custom step c_pdef[4] c_tdef
thermo_modify   flush yes format float %.15g
thermo          $4
run             $3
EOF
}
