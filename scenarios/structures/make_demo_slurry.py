#!/usr/bin/env python3
"""Writes demo_slurry.data: a small synthetic wet slurry for the README's demo command.

Our own structure (no research data): random sequential placement, seeded, in a periodic
26 x 26 x 30 um box. Type 1 = wet CBD bead (6.2 um), types 2..7 = NMC classes of the
reference model (contact diameters 1.14 x 2.5 ... 10.35 um). Minimum centre distances keep
every pair outside the steep LJ core (CBD-CBD >= r_c = 2.2 um, others >= sigma_ij) so the
start has Hertz contacts but no singular forces. Run: python3 make_demo_slurry.py > demo_slurry.data
"""
import math, random

random.seed(20261129)
L = (26.0, 26.0, 30.0)
am_d = [2.5, 3.5, 4.5, 5.86, 8.28, 10.35]
w_sigma = 0.855126
counts = {1: 820, 2: 6, 3: 6, 4: 5, 5: 4, 6: 2, 7: 1}
diam = {1: 6.2, **{k + 2: 1.14 * d for k, d in enumerate(am_d)}}
dens = {1: 0.005, **{k + 2: 4.65 for k in range(6)}}
sig = {1: 1.1, **{k + 2: w_sigma * d for k, d in enumerate(am_d)}}

def min_dist(a, b):
    if a == 1 and b == 1:
        return 2.2
    return 0.5 * (sig[a] + sig[b])

placed = []
order = [t for t in sorted(counts, reverse=True) for _ in range(counts[t])]
for t in order:
    for attempt in range(200000):
        x = [random.uniform(0, L[c]) for c in range(3)]
        ok = True
        for (u, y) in placed:
            d2 = 0.0
            for c in range(3):
                dc = x[c] - y[c]
                dc -= L[c] * round(dc / L[c])
                d2 += dc * dc
            if d2 < min_dist(t, u) ** 2:
                ok = False
                break
        if ok:
            placed.append((t, x))
            break
    else:
        raise SystemExit("could not place type %d" % t)

print("demo wet slurry, %d spheres, seeded random placement (electrode-twin, own data)" % len(placed))
print()
print("%d atoms" % len(placed))
print("7 atom types")
print()
for c, n in enumerate("xyz"):
    print("0 %r %slo %shi" % (L[c], n, n))
print()
print("Atoms # sphere")
print()
for k, (t, x) in enumerate(placed):
    print("%d %d %r %r %r %r %r 0 0 0" % (k + 1, t, diam[t], dens[t], x[0], x[1], x[2]))
