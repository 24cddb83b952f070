#!/usr/bin/env python3
"""A variant of scenarios/lombardo2020_slurry.ron (the reference protocol) for the bench
scripts, written to stdout. Options change only what they name:

  --start DATA           start from this structure, without the minimization (`imported: false`)
  --row ITER:POP         the force field of that row of the reference's PSO log (inline)
  --npt STEPS            NPT steps (the ramp still ends at 100 kPa unless --npt-stop P, kPa)
  --npt-stop P --npt-every N --npt-average F
  --no-npt               drop the NPT stage
  --nemd RATE STRAIN N   one shear rate [1/s] to STRAIN, sampled every N steps
  --no-nemd              drop the shear stage
  --no-files             no VTU frames or report (the bench scripts read the CSVs and JSON)
"""
import argparse
import csv
import os
import re
import sys

root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
a = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
a.add_argument("--start")
a.add_argument("--row")
a.add_argument("--npt", type=int)
a.add_argument("--npt-stop", type=float)
a.add_argument("--npt-every", type=int)
a.add_argument("--npt-average", type=float)
a.add_argument("--no-npt", action="store_true")
a.add_argument("--nemd", nargs=3, metavar=("RATE", "STRAIN", "EVERY"))
a.add_argument("--no-nemd", action="store_true")
a.add_argument("--no-files", action="store_true")
o = a.parse_args()

s = open(os.path.join(root, "scenarios/lombardo2020_slurry.ron")).read()
s = s.replace('File("forcefields/', 'File("' + os.path.join(root, "scenarios/forcefields/"))


def stage(name, key, value):
    """Sets `key: value` inside the stage `name` (npt or nemd)."""
    global s
    # The value (a list or up to the comma) and the line's comment are replaced.
    pattern = r"(%s: (?:Some\()?\((?:.|\n)*?%s: )(?:\[[^]]*\]|[^,\n]+),?[^\n]*" % (name, key)
    s, n = re.subn(pattern, r"\g<1>" + str(value).replace("\\", "\\\\") + ",", s, count=1)
    assert n == 1, (name, key)


if o.start:
    s = re.sub(r'start_from: "[^"]*"', f'start_from: "{os.path.abspath(o.start)}"', s)
    s = s.replace("imported: true", "imported: false")
if o.row:
    log = os.path.join(os.environ["ETWIN_DATA_DIR"], "lombardo2020_pso_ff/results_0_example.csv")
    it, pop = o.row.split(":")
    r = next(r for r in csv.DictReader(open(log)) if r["Iteration"] == it and r["#Pop"] == pop)
    ff = ("Inline(ReferenceModel(name: \"PSO log %s\", eps_am: %s, w_sigma: %s, eps_cb: %s, "
          "d_cbd: %s, rho_cbd: %s, kn: %s, gamma_n: %s, xu: %s))") % (
        o.row, r["Epsiam"], r["Sigma"], r["Epsicb"], r["dCBD"], r["RhoCBD"], r["Kn"], r["Gamma"], r["Xu"])
    s = re.sub(r'forcefield: File\("[^"]*"\)', "forcefield: " + ff, s)
if o.npt is not None:
    stage("npt", "steps", o.npt)
for key, value in (("pressure_stop", o.npt_stop), ("sample_every", o.npt_every), ("average_last", o.npt_average)):
    if value is not None:
        stage("npt", key, f'"{value} kPa"' if key == "pressure_stop" else value)
if o.no_npt:
    s = re.sub(r"        npt: \((.|\n)*?\n        \),\n", "", s, count=1)
if o.nemd:
    rate, strain, every = o.nemd
    stage("nemd", "shear_rates", f'["{rate} 1/s"]')
    stage("nemd", "strain", strain)
    stage("nemd", "sample_every", every)
if o.no_nemd:
    s = re.sub(r"nemd: Some\(\((.|\n)*?\)\),\n", "nemd: None,\n", s)
if o.no_files:
    s = s.rstrip()
    assert s.endswith("),\n)"), "the scenario must end with its protocol"
    s = s[: -1].rstrip() + "\n    outputs: (vtu: false, report: false),\n)\n"
sys.stdout.write(s)
