#!/usr/bin/python3
"""Generate extra reference cases for Murphy's analysis tests with SciPy.

Run from this folder with Debian's python3-scipy:

    /usr/bin/python3 gen_reference.py > mannwhitney-generated.json

The output has the schema of mannwhitney-reference.json (see README.md). The exact
tie-aware p-values are computed here by brute-force enumeration of every labelling,
independently of the dynamic programme in mannwhitney.go.
"""
import itertools
import json
import sys

import numpy as np
import scipy
from scipy import stats

ALT = {"either": "two-sided", "increase": "greater", "decrease": "less"}


def exact_ties(control, experiment, direction):
    """Exact permutation p-values of U with mid-ranks, by enumerating labellings."""
    pooled = np.concatenate([control, experiment])
    ranks = stats.rankdata(pooled)
    n_e, n = len(experiment), len(pooled)
    mean = n_e * (n - n_e) / 2.0
    # 2U is an integer with mid-ranks; compare on it so float noise cannot flip a tie.
    u2_obs = round(2 * (ranks[len(control):].sum() - n_e * (n_e + 1) / 2.0))
    ge = le = far = total = 0
    dev = abs(u2_obs - 2 * mean)
    for idx in itertools.combinations(range(n), n_e):
        u2 = round(2 * (ranks[list(idx)].sum() - n_e * (n_e + 1) / 2.0))
        total += 1
        ge += u2 >= u2_obs
        le += u2 <= u2_obs
        far += abs(u2 - 2 * mean) >= dev
    if direction == "increase":
        return ge / total, ge / total
    if direction == "decrease":
        return le / total, le / total
    return min(1.0, 2 * min(ge, le) / total), far / total


def case(kind, direction, control, experiment, exact=False, ties=False):
    control = [float(round(v, 4)) for v in control]
    experiment = [float(round(v, 4)) for v in experiment]
    c, e = np.array(control), np.array(experiment)
    alt = ALT[direction]
    asym = stats.mannwhitneyu(e, c, alternative=alt, method="asymptotic", use_continuity=True)
    out = {
        "kind": kind,
        "direction": direction,
        "control": control,
        "experiment": experiment,
        "u": float(stats.mannwhitneyu(e, c, alternative="two-sided").statistic),
        "p_asymptotic": float(asym.pvalue),
        "p_exact": None,
        "p_exact_ties_min": None,
        "p_exact_ties_abs": None,
        "hl": float(np.median(np.subtract.outer(e, c))),
    }
    has_ties = len(np.unique(np.concatenate([c, e]))) < len(c) + len(e)
    if exact and not has_ties:
        out["p_exact"] = float(stats.mannwhitneyu(e, c, alternative=alt, method="exact").pvalue)
    if ties and has_ties:
        out["p_exact_ties_min"], out["p_exact_ties_abs"] = (float(p) for p in exact_ties(c, e, direction))
    w = stats.ttest_ind(e, c, equal_var=False)
    out["welch_t"], out["welch_p"] = float(w.statistic), float(w.pvalue)
    vc, ve = c.var(ddof=1) / len(c), e.var(ddof=1) / len(e)
    out["welch_df"] = float((vc + ve) ** 2 / (vc**2 / (len(c) - 1) + ve**2 / (len(e) - 1)))
    return out


def main():
    rng = np.random.default_rng(20240603)
    cases = []
    for direction in ("increase", "decrease", "either"):
        # Small tie-free samples: the exact distribution.
        cases.append(case("small_exact", direction, rng.normal(100, 10, 12), rng.normal(108, 10, 9), exact=True))
        cases.append(case("small_exact_unequal", direction, rng.normal(50, 5, 40), rng.normal(47, 5, 7), exact=True))
        # Small tied integers: the exact permutation distribution with mid-ranks.
        cases.append(case("small_ties", direction, rng.integers(0, 5, 9).astype(float),
                          rng.integers(1, 6, 8).astype(float), ties=True))
        cases.append(case("small_heavy_ties", direction, rng.integers(0, 3, 10).astype(float),
                          rng.integers(0, 3, 7).astype(float), ties=True))
        # Large samples: the normal approximation, with and without ties.
        cases.append(case("large_lognormal", direction, rng.lognormal(3, 0.5, 800), rng.lognormal(3.05, 0.5, 700)))
        cases.append(case("large_tied_ms", direction, np.floor(rng.exponential(20, 1500)),
                          np.floor(rng.exponential(21, 1200))))
        # A far tail: tiny p-values must still agree in relative terms.
        cases.append(case("large_far_tail", direction, rng.normal(100, 10, 300), rng.normal(106, 10, 300)))
    json.dump({"generator": "scipy %s, numpy %s, gen_reference.py" % (scipy.__version__, np.__version__),
               "cases": cases}, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
