#!/usr/bin/python3
"""Generate reference values for Murphy's target-level analysis tests with SciPy.

Run from this folder with Debian's python3-scipy:

    /usr/bin/python3 gen_target_reference.py > target-reference.json

Everything here is computed from the definitions, independently of target.go,
targethalt.go and student.go (see README.md for the schema):

- Student t quantiles. SciPy 1.10's t.ppf (cdflib's cdft) is only good to about 1e-9
  relative, so each quantile is also polished by Newton steps on t.sf / t.cdf (cephes'
  incomplete beta, accurate to a few ulps) and checked against the closed forms for 1 and
  2 degrees of freedom. Both values are written: "ppf" (raw) and "q" (polished).
- Target levels: scipy.stats.trim_mean(values, 0.2) (of the logs on the log scale), which
  cuts int(0.2*n) values from each end, as target.go does (checked below), or the share
  for 0/1 proportions.
- Welch's t on the per-target changes: scipy.stats.ttest_ind(d_exp, d_ctl,
  equal_var=False) where no binomial floor applies, and the Welch-Satterthwaite degrees of
  freedom computed here. For proportions the per-group variance is
  max(sample variance of d, mean over the group of the per-target binomial variance
  p~(1-p~)/n summed over baseline and window, p~ = (s+0.5)/(n+1)).
- The pooled-t halt statistic, the futility plan and the targets-needed figure from
  their formulas.
"""
import json
import math
import sys

import numpy as np
import scipy
from scipy import stats
from scipy.stats import mstats

TRIM = 0.2
PLAN_POWER = 0.8
MIN_TARGETS = 2
MAX_TARGETS_NEEDED = 100_000


# --- Student t quantiles ------------------------------------------------------------


def tq(p, df):
    """The Student t quantile, polished by Newton steps on the accurate tail function."""
    q = float(stats.t.ppf(p, df))
    for _ in range(6):
        if p > 0.5:
            step = (stats.t.sf(q, df) - (1 - p)) / stats.t.pdf(q, df)
            q = q + step
        else:
            step = (stats.t.cdf(q, df) - p) / stats.t.pdf(q, df)
            q = q - step
        if abs(step) <= 1e-16 * abs(q):
            break
    return float(q)


def closed_form(p, df):
    """Closed forms for 1 and 2 degrees of freedom, written in the smaller tail a."""
    sign, a = (1.0, 1 - p) if p > 0.5 else (-1.0, p)
    if df == 1:
        return sign / math.tan(math.pi * a)
    if df == 2:
        return sign * (1 - 2 * a) / math.sqrt(2 * a * (1 - a))
    return None


def quantiles():
    out = []
    dfs = [1, 2, 3.5, 4, 7.3, 10, 22, 58, 1000]
    ps = [0.6, 0.8, 0.9, 0.975, 0.995, 0.9999, 1 - 1e-5, 1 - 1e-7, 0.4, 0.1, 0.025, 1e-3, 1e-5]
    for df in dfs:
        for p in ps:
            q = tq(p, df)
            cf = closed_form(p, df)
            if cf is not None:
                assert abs(q - cf) <= 1e-13 * abs(cf), (p, df, q, cf)
            out.append({"p": p, "df": df, "ppf": float(stats.t.ppf(p, df)), "q": q})
    return out


# --- Target levels ------------------------------------------------------------------


def check_trimming_rule(rng):
    """scipy's trim_mean and winsorize cut int(0.2*n) from each end, like target.go."""
    for n in range(1, 80):
        x = rng.normal(size=n)
        g = int(TRIM * n)
        s = np.sort(x)
        assert abs(stats.trim_mean(x, TRIM) - s[g:n - g].mean()) <= 1e-14, n
        w = np.asarray(mstats.winsorize(x, limits=(TRIM, TRIM)))
        assert np.array_equal(np.sort(w), np.clip(s, s[g], s[n - 1 - g])), n


def level(xs, scale, proportion):
    """A target's level on the analysis scale and the sampling variance of that level."""
    x = np.asarray(xs, dtype=float)
    n = len(x)
    if proportion:
        s = float(np.count_nonzero(x))
        pt = (s + 0.5) / (n + 1)
        return s / n, pt * (1 - pt) / n
    if scale == "log":
        x = np.log(x)
    lvl = float(stats.trim_mean(x, TRIM))
    if n < 2:
        return lvl, 0.0
    g = int(TRIM * n)
    w = np.asarray(mstats.winsorize(x, limits=(TRIM, TRIM)), dtype=float)
    h = n - 2 * g
    return lvl, float(np.var(w, ddof=1) * n / (h * h))


def to_units(lvl, scale):
    return math.exp(lvl) if scale == "log" else lvl


def choose_scale(groups, tol, proportion):
    if proportion or not tol["is_relative"]:
        return "linear"
    for ts in groups:
        for t in ts:
            if any(v <= 0 for v in t["baseline"] + t["window"]):
                return "linear"
    return "log"


def boundaries(tol, scale, base):
    if tol["is_relative"] and scale == "log":
        up = math.log1p(tol["relative"])
        down = math.log1p(-tol["relative"]) if tol["relative"] < 1 else -math.inf
        return up, down
    if tol["is_relative"]:
        return tol["relative"] * abs(base), -tol["relative"] * abs(base)
    return tol["absolute"], -tol["absolute"]


def distance(up, down, direction):
    return {"increase": up, "decrease": -down}.get(direction, min(up, -down))


def targets_needed(sd, delta, confidence):
    if not sd > 0:
        return 0
    if not delta > 0:
        return MAX_TARGETS_NEEDED

    def enough(n):
        df = 2 * n - 2
        q = tq(1 - (1 - confidence) / 2, df) + tq(PLAN_POWER, df)
        return q * sd * math.sqrt(2 / n) <= delta

    if not enough(MAX_TARGETS_NEEDED):
        return MAX_TARGETS_NEEDED
    lo, hi = 1, MAX_TARGETS_NEEDED  # enough(hi); lo below the range
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if mid >= MIN_TARGETS and enough(mid):
            hi = mid
        else:
            lo = mid
    n = max(hi, MIN_TARGETS)
    assert enough(n) and (n == MIN_TARGETS or not enough(n - 1))
    return n


def harmful_p(t, df, direction):
    if direction == "increase":
        return float(stats.t.sf(t, df))
    if direction == "decrease":
        return float(stats.t.cdf(t, df))
    return float(min(1.0, 2 * stats.t.sf(abs(t), df)))


def tolerance_p(est, se, df, up, down, direction):
    p_up = float(stats.t.sf((est - up) / se, df))
    p_down = 1.0 if down == -math.inf else float(stats.t.sf((down - est) / se, df))
    if direction == "increase":
        return p_up
    if direction == "decrease":
        return p_down
    return min(1.0, 2 * min(p_up, p_down))


def beyond(x, up, down, direction):
    if direction == "increase":
        return x > up
    if direction == "decrease":
        return x < down
    return x > up or x < down


def finite(x):
    """JSON has no infinity: an unbounded boundary is written as null."""
    return None if math.isinf(x) else x


def analyse(c):
    """Everything CompareTargets, TargetHalt and PlanTargets report for case c."""
    tol, direction, conf, prop = c["tolerance"], c["direction"], c["confidence"], c["proportion"]
    groups = [c["control"], c["experiment"]]
    scale = choose_scale(groups, tol, prop)
    with_baseline = any(len(t["baseline"]) > 0 and len(t["window"]) > 0 for ts in groups for t in ts)
    per = []  # per group: list of (d, within, window level, baseline level)
    targets = []
    for g, ts in enumerate(groups):
        units = []
        for t in ts:
            wl, wv = level(t["window"], scale, prop)
            d, within, bl = wl, wv, None
            if with_baseline:
                bl, bv = level(t["baseline"], scale, prop)
                d, within = wl - bl, wv + bv
            units.append((d, within, wl, bl))
            # "change" is what target.go reports: expm1(d) on the log scale, so without
            # baselines it is the window level minus one there (web/targets.go relies on
            # that to tell the scales apart), although TargetSummary's comment says "the
            # window level itself".
            targets.append({"id": t["id"], "experiment": g == 1, "d": d,
                            "window": to_units(wl, scale),
                            "baseline": to_units(bl, scale) if with_baseline else 0.0,
                            "change": math.expm1(d) if scale == "log" else d})
        per.append(units)
    ctl, exp = per
    n_c, n_e = len(ctl), len(exp)
    d_c = np.array([u[0] for u in ctl])
    d_e = np.array([u[0] for u in exp])
    # A group of one has no sample variance of its own (target.go takes it as zero).
    var_c, var_e = (float(x.var(ddof=1)) if len(x) > 1 else 0.0 for x in (d_c, d_e))
    floor_c = sum(u[1] for u in ctl) / n_c
    floor_e = sum(u[1] for u in exp) / n_e
    floored = [False, False]
    if prop:
        floored = [floor_c > var_c, floor_e > var_e]
        var_c, var_e = max(var_c, floor_c), max(var_e, floor_e)
    effect = float(d_e.mean() - d_c.mean())
    single = min(n_c, n_e) == 1
    if not single:
        s_c, s_e = var_c / n_c, var_e / n_e
        se = math.sqrt(s_c + s_e)
        df = (s_c + s_e) ** 2 / (s_c ** 2 / (n_c - 1) + s_e ** 2 / (n_e - 1))
    else:
        # One target against the other group's spread: the pooled t with a group of one,
        # i.e. Crawford and Howell's single-case t (the pooled variance is the other
        # group's; proportions keep the binomial floor over all targets).
        df = n_c + n_e - 2
        s2 = ((n_c - 1) * var_c + (n_e - 1) * var_e) / df
        if prop:
            s2 = max(s2, sum(u[1] for u in ctl + exp) / (n_c + n_e))
        se = math.sqrt(s2 * (1 / n_c + 1 / n_e))
        if not prop and n_e == 1:
            ch = (d_e[0] - d_c.mean()) / (d_c.std(ddof=1) * math.sqrt(1 + 1 / n_c))
            assert abs(ch - effect / se) <= 1e-12 * abs(ch) and df == n_c - 1
    t = effect / se
    if not any(floored) and not single:
        # SciPy's Welch test on the same changes must agree with the formula above.
        ref = stats.ttest_ind(d_e, d_c, equal_var=False)
        assert abs(ref.statistic - t) <= 1e-12 * abs(t), (ref.statistic, t)
        alt = {"increase": "greater", "decrease": "less"}.get(direction, "two-sided")
        p = float(stats.ttest_ind(d_e, d_c, equal_var=False, alternative=alt).pvalue)
        assert abs(p - harmful_p(t, df, direction)) <= 1e-12 * p
    else:
        p = harmful_p(t, df, direction)
    p_two = float(min(1.0, 2 * stats.t.sf(abs(t), df)))
    q = tq(1 - (1 - conf) / 2, df)
    low, high = effect - q * se, effect + q * se

    def group_level(units, base):
        ls = [u[3] if base else u[2] for u in units]
        return to_units(float(np.mean(ls)), scale)

    control_level, experiment_level = group_level(ctl, False), group_level(exp, False)
    control_base = group_level(ctl, True) if with_baseline else control_level
    up, down = boundaries(tol, scale, control_base)
    if scale == "log":
        rel = [math.expm1(x) for x in (effect, low, high)]
    else:
        rel = [x / abs(control_base) for x in (effect, low, high)]
    pooled_sd = math.sqrt(((n_c - 1) * var_c + (n_e - 1) * var_e) / (n_c + n_e - 2))
    mean_c = float(d_c.mean())
    for tg, u in zip(targets, ctl + exp):
        tg["beyond"] = bool(tg["experiment"] and beyond(u[0] - mean_c, up, down, direction))
    out = {
        "scale": scale,
        "method": ("target-did-single-case" if single else "target-did-welch") if with_baseline else "target-levels-welch",
        "targets": targets,
        "floored": floored,
        "effect": effect, "se": se, "t": t, "df": df,
        "p": p, "p_two_sided": p_two,
        "p_tolerance": tolerance_p(effect, se, df, up, down, direction),
        "low": low, "high": high,
        "rel_change": rel[0], "rel_low": rel[1], "rel_high": rel[2],
        "up": up, "down": finite(down),
        "control_level": control_level, "experiment_level": experiment_level,
        "control_base": control_base,
        "sd_control": math.sqrt(var_c), "sd_experiment": math.sqrt(var_e),
        "within_sd": math.sqrt(sum(u[1] for u in ctl + exp) / (n_c + n_e)),
        "targets_needed": targets_needed(pooled_sd, distance(up, down, direction), conf),
        "halt": None,
        "plan": None,
    }
    if n_c >= 4 and n_e >= 4:
        looks, alpha = 180, 0.01
        lvl = alpha / looks / (2 if direction == "either" else 1)
        hdf = n_c + n_e - 2
        hse = math.sqrt(((n_c - 1) * var_c + (n_e - 1) * var_e) / hdf * (1 / n_c + 1 / n_e))
        t_up = (effect - up) / hse
        t_down = -math.inf if down == -math.inf else (down - effect) / hse
        ht = {"increase": t_up, "decrease": t_down}.get(direction, max(t_up, t_down))
        crit = tq(1 - lvl, hdf)
        out["halt"] = {"looks": looks, "alpha": alpha, "level": lvl, "df": hdf,
                       "t": finite(ht), "critical": crit, "halt": bool(ht > crit)}
    if with_baseline and not single:
        out["plan"] = plan(c, scale, 0.5)
    return out


def plan(c, scale, ratio):
    """PlanTargets: the no-fault change between the two halves of each baseline."""
    prop, conf, direction = c["proportion"], c["confidence"], c["direction"]
    halves, floor, base = [[], []], [], []
    for g, ts in enumerate([c["control"], c["experiment"]]):
        for t in ts:
            b = t["baseline"]
            n = len(b)
            if n < 4:
                continue
            a1, _ = level(b[:n // 2], scale, prop)
            a2, _ = level(b[n // 2:], scale, prop)
            halves[g].append(a2 - a1)
            whole, vw = level(b, scale, prop)
            base.append(whole)
            if prop:
                floor.append(vw * (1 + 1 / ratio))
    n_c, n_e = len(halves[0]), len(halves[1])
    v_half = ((n_c - 1) * np.var(halves[0], ddof=1) + (n_e - 1) * np.var(halves[1], ddof=1)) / (n_c + n_e - 2)
    v = v_half / 4 * (1 + 1 / ratio)
    if prop:
        v = max(v, float(np.mean(floor)))
    up, down = boundaries(c["tolerance"], scale, to_units(float(np.mean(base)), scale))
    dist = distance(up, down, direction)
    hw = tq(1 - (1 - conf) / 2, n_c + n_e - 2) * math.sqrt(v * (1 / n_c + 1 / n_e))
    return {"window_over_baseline": ratio, "half_width": hw, "distance": dist,
            "targets_needed": targets_needed(math.sqrt(v), dist, conf),
            "can_decide": bool(hw < dist or v == 0)}


# --- Cases --------------------------------------------------------------------------


def latency_targets(rng, prefix, sizes, median, sigma, host_cv, factor, base_n=None, outliers=0):
    """Lognormal latencies per target: a fixed host offset, the fault factor in the window."""
    out = []
    for i, n in enumerate(sizes):
        host = median * math.exp(host_cv * rng.normal())
        bn = n if base_n is None else base_n[i]
        b = host * rng.lognormal(0, sigma, bn) if bn else np.array([])
        w = factor * host * rng.lognormal(0, sigma, n)
        if outliers:
            w[:outliers] *= 20  # timeouts: the trimmed mean must not follow them
        out.append({"id": "%s%d" % (prefix, i + 1),
                    "baseline": [float(round(v, 4)) for v in b],
                    "window": [float(round(v, 4)) for v in w]})
    return out


def proportion_targets(rng, prefix, sizes, p_base, p_window, host_sd=0.0):
    out = []
    for i, n in enumerate(sizes):
        shift = host_sd * rng.normal()
        pb = min(1.0, max(0.0, p_base + shift))
        pw = min(1.0, max(0.0, p_window + shift))
        out.append({"id": "%s%d" % (prefix, i + 1),
                    "baseline": [float(v) for v in (rng.random(n) < pb)],
                    "window": [float(v) for v in (rng.random(n) < pw)]})
    return out


def rel(x):
    return {"relative": x, "absolute": 0.0, "is_relative": True}


def ab(x):
    return {"relative": 0.0, "absolute": x, "is_relative": False}


def cases(rng):
    cs = []

    def add(name, direction, tol, proportion, control, experiment, confidence=0.95):
        c = {"name": name, "direction": direction, "tolerance": tol, "proportion": proportion,
             "confidence": confidence, "control": control, "experiment": experiment}
        c["want"] = analyse(c)
        cs.append(c)

    add("latency 15% slower, relative 10%, increase", "increase", rel(0.10), False,
        latency_targets(rng, "c", [20] * 6, 50, 0.3, 0.1, 1.0, base_n=[30] * 6),
        latency_targets(rng, "e", [20] * 6, 50, 0.3, 0.1, 1.15, base_n=[30] * 6))
    add("unequal groups and sample sizes, relative 20%, either", "either", rel(0.20), False,
        latency_targets(rng, "c", [5, 17, 40], 80, 0.4, 0.15, 1.0, base_n=[12, 9, 33]),
        latency_targets(rng, "e", [8, 11, 23, 6, 39, 14, 27, 20], 80, 0.4, 0.15, 1.3,
                        base_n=[7, 25, 18, 40, 10, 5, 31, 16]))
    add("throughput 8% lower, relative 5%, decrease, 90% confidence", "decrease", rel(0.05), False,
        latency_targets(rng, "c", [24, 30, 18, 26], 1000, 0.05, 0.2, 1.0),
        latency_targets(rng, "e", [22, 30, 25, 19, 28], 1000, 0.05, 0.2, 0.92), confidence=0.90)
    add("linear scale, absolute 5 ms, increase", "increase", ab(5.0), False,
        latency_targets(rng, "c", [15, 15, 20, 25, 10], 40, 0.2, 0.1, 1.0),
        latency_targets(rng, "e", [15, 18, 22, 12, 30, 16, 21], 40, 0.2, 0.1, 1.3))
    add("proportion, 5% failing on experimental hosts, absolute 0.02, decrease", "decrease", ab(0.02), True,
        proportion_targets(rng, "c", [150] * 6, 1.0, 1.0),
        proportion_targets(rng, "e", [150] * 6, 1.0, 0.95))
    add("proportion, failures in both groups, unequal, absolute 0.03, either", "either", ab(0.03), True,
        proportion_targets(rng, "c", [80, 120, 60, 200], 0.97, 0.97, host_sd=0.02),
        proportion_targets(rng, "e", [90, 150, 40, 110, 75, 130, 60, 100, 85, 120], 0.97, 0.93, host_sd=0.02))
    add("proportion, relative 2% of the control share, decrease", "decrease", rel(0.02), True,
        proportion_targets(rng, "c", [100] * 5, 0.9, 0.9, host_sd=0.03),
        proportion_targets(rng, "e", [100] * 5, 0.9, 0.84, host_sd=0.03))
    add("no baselines: window levels only, relative 10%, increase", "increase", rel(0.10), False,
        latency_targets(rng, "c", [25] * 5, 30, 0.25, 0.05, 1.0, base_n=[0] * 5),
        latency_targets(rng, "e", [25] * 5, 30, 0.25, 0.05, 1.2, base_n=[0] * 5))
    add("two targets per group with timeouts, relative 30%, increase", "increase", rel(0.30), False,
        latency_targets(rng, "c", [12, 16], 100, 0.3, 0.1, 1.0, outliers=2),
        latency_targets(rng, "e", [14, 10], 100, 0.3, 0.1, 1.6, outliers=2))
    add("relative tolerance 150% (no lower boundary), either", "either", rel(1.5), False,
        latency_targets(rng, "c", [20] * 4, 10, 0.3, 0.1, 1.0),
        latency_targets(rng, "e", [20] * 4, 10, 0.3, 0.1, 3.0))
    add("latency doubled on 12 hosts per group, relative 50%, increase (halts)", "increase", rel(0.50), False,
        latency_targets(rng, "c", [30] * 12, 20, 0.1, 0.1, 1.0),
        latency_targets(rng, "e", [30] * 12, 20, 0.1, 0.1, 2.0))
    add("one experimental host against 5 controls (single-case t), relative 10%, increase", "increase", rel(0.10), False,
        latency_targets(rng, "c", [30] * 5, 40, 0.2, 0.1, 1.0),
        latency_targets(rng, "e", [30], 40, 0.2, 0.1, 1.25))
    add("proportion, one experimental host against 4 controls, absolute 0.02, decrease", "decrease", ab(0.02), True,
        proportion_targets(rng, "c", [120, 150, 100, 130], 0.99, 0.99),
        proportion_targets(rng, "e", [140], 0.99, 0.9))
    return cs


def main():
    rng = np.random.default_rng(20240611)
    check_trimming_rule(rng)
    doc = {
        "generator": "scipy %s, numpy %s, gen_target_reference.py" % (scipy.__version__, np.__version__),
        "quantiles": quantiles(),
        "cases": cases(rng),
    }
    json.dump(doc, sys.stdout, allow_nan=False)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
