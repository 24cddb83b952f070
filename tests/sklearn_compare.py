#!/usr/bin/env python3
"""sklearn_compare.py DATA.csv FOLDS.csv  (own script; needs numpy and scikit-learn)

scikit-learn's SVC(C=50, gamma=0.1) and SVR(C=50, gamma=0.1, epsilon=0.1) on exactly the
folds `etwin map cv --folds-out` wrote, with the same standardisation (inputs from the
training folds; SVR targets standardised likewise) and class edges (mass loading: Low < 20,
Medium < 35, High; porosity: terciles), on the reference's three inputs and with the comma gap. Prints JSON
with the same keys as `etwin map cv --json`."""
import csv, json, sys
import numpy as np
from sklearn.svm import SVC, SVR

COLS = ["Composition (A.M.%)", "S-to-L Ratio (%)", "Comma gap (µm)", "Viscosity (Pas)",
        "Mass Loading (mg cm-2)", "Porosity (%)"]

def load(path):
    with open(path, encoding="utf-8-sig") as f:
        rows = [r for r in csv.reader(f) if any(c.strip() for c in r)]
    head = [h.strip() for h in rows[0]]
    idx = [head.index(c) for c in COLS]
    return np.array([[float(r[i]) for i in idx] for r in rows[1:]])

def main():
    data = load(sys.argv[1])
    folds = np.array([int(r[1]) for r in list(csv.reader(open(sys.argv[2])))[1:]])
    am, stol, gap, visc, ml, por = data.T
    ml_class = np.digitize(ml, [20.0, 35.0])
    srt = np.sort(por)
    por_class = np.digitize(por, [srt[len(por) // 3], srt[2 * len(por) // 3]])
    out = {}
    for name, X in (("three_inputs", np.c_[am, stol, visc]), ("with_gap", np.c_[am, stol, visc, gap])):
        pc = np.zeros(len(ml), int); ppc = np.zeros(len(ml), int); pml = np.zeros(len(ml)); ppor = np.zeros(len(ml))
        for f in sorted(set(folds)):
            tr, te = folds != f, folds == f
            mu, sd = X[tr].mean(0), X[tr].std(0)
            sd[sd == 0] = 1
            xtr, xte = (X[tr] - mu) / sd, (X[te] - mu) / sd
            pc[te] = SVC(C=50, gamma=0.1).fit(xtr, ml_class[tr]).predict(xte)
            ppc[te] = SVC(C=50, gamma=0.1).fit(xtr, por_class[tr]).predict(xte)
            for y, p in ((ml, pml), (por, ppor)):
                m, s = y[tr].mean(), y[tr].std()
                p[te] = m + s * SVR(C=50, gamma=0.1, epsilon=0.1).fit(xtr, (y[tr] - m) / s).predict(xte)
        recalls = [np.mean(pc[ml_class == k] == k) for k in range(3) if np.any(ml_class == k)]
        out[name] = {
            "mass_loading_class": {"accuracy": float(np.mean(pc == ml_class)), "balanced_accuracy": float(np.mean(recalls))},
            "porosity_class": {"accuracy": float(np.mean(ppc == por_class))},
            "mass_loading": {"mae": float(np.mean(np.abs(pml - ml)))},
            "porosity": {"mae": float(np.mean(np.abs(ppor - por)))},
        }
    print(json.dumps(out, indent=1))

if __name__ == "__main__":
    main()
