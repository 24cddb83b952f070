# Sourced by the bench scripts from the repository root: sets $etwin (ETWIN_BIN, or a
# fresh release build) and $tmp, a scratch folder removed on exit; defines the LAMMPS input
# pieces lammps_head, lammps_minimize, lammps_npt (with npt_ramp_stop) and lammps_shear, and
# lmp_on to run LAMMPS.
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
# LAMMPS on $1 MPI ranks with the remaining arguments, quiet.
lmp_on() {
  local np=$1; shift
  if [ "$np" -gt 1 ]; then
    mpirun --allow-run-as-root --oversubscribe -np "$np" lmp -screen none "$@" >/dev/null
  else
    lmp -screen none "$@" >/dev/null
  fi
}
# The reference's NPT ramps the pressure target from 0 to npt_ramp_kpa over npt_ramp_steps.
npt_ramp_steps=13000000
npt_ramp_kpa=100
# The ramp's target after the first $1 steps [kPa].
npt_ramp_stop() {
  python3 -c "print($npt_ramp_kpa * $1 / $npt_ramp_steps)"
}
# The reference's CG minimization, writing the minimized state to $1 (after lammps_head).
lammps_minimize() {
  cat <<EOF
min_style       cg
minimize        0.0 1e-4 100000 1000000
reset_timestep  0
write_data      $1
EOF
}
# The first $1 steps of the reference's NPT ramp (`fix npt/sphere temp 300 300 0.06 iso 0 100
# 1000` over 13,000,000 steps, from 300 K Gaussian velocities), thermo every $2 steps.
lammps_npt() {
  cat <<EOF
timestep        0.001
velocity        all create 300 4928459 dist gaussian
fix             npt all npt/sphere temp 300 300 0.06 iso 0.0 $npt_ramp_kpa 1000
thermo_style    custom step temp press vol
thermo          $2
run             $1 start 0 stop $npt_ramp_steps
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
