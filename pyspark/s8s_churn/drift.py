"""Drift of a scoring run's input and scores from the model version's training data.

At training (baseline): per input feature the bins of the training rows, and the bins of the
model's own scores on the held-out split, saved in the version's metadata.json (model_versions
shows them as drift_baseline):
  - a number: its distinct decile cut points (bin i holds edges[i-1] < x <= edges[i]) and a
    last bin for a blank value (a blank TotalCharges is its own category);
  - a category: each level training saw, and a last bin for levels it never saw (or blank);
  - churn_probability: the deciles of the held-out scores.
At scoring: the same bins are counted by aggregate expressions that ride on the Observations of
the predictions write (the inputs' bins as the rows reach the model, the scores' bins as they leave
it: with_bins, bin_count_columns), so measuring drift reads nothing twice; drift_rows turns the
counts into one batch_drift row per feature.

Measures, per feature, between the training shares e and the run's shares a:
  - PSI = sum((a - e) * ln(a / e)), with every share below EPSILON raised to EPSILON first, so an
    empty bin counts as a share of 1e-4 instead of dividing by zero. The usual reading (Siddiqi,
    "Credit Risk Scorecards", 2006; Yurdakul, "Statistical properties of the population stability
    index", 2018): below 0.1 no significant change, 0.1 to 0.25 moderate, 0.25 or more significant.
  - Jensen-Shannon distance: the square root of the JS divergence with base-2 logarithms, so it lies
    in [0, 1] (as scipy.spatial.distance.jensenshannon(base=2)); no smoothing is needed. Vertex AI
    Model Monitoring uses the same measure for categorical drift.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from s8s_churn.job import JobError
from s8s_churn.model import CATEGORICAL_FEATURES

NUMERIC = "numeric"
CATEGORICAL = "categorical"
PREDICTION = "prediction"
# What the scoring job bins where: the inputs as they reach the model, the scores as it made them.
INPUT_KINDS = (NUMERIC, CATEGORICAL)
SCORE_KINDS = (PREDICTION,)
# The inputs drift is measured on, as batch_predictions stores them (total_charges with its blanks).
DRIFT_NUMERIC = ["senior_citizen", "tenure", "monthly_charges", "total_charges"]
DRIFT_CATEGORICAL = list(CATEGORICAL_FEATURES)
SCORE = "churn_probability"
DECILES = [i / 10 for i in range(1, 10)]
# percentile_approx accuracy: 1/10000 relative rank error is plenty for decile cut points.
QUANTILE_ACCURACY = 10000
EPSILON = 1e-4
# The PSI convention's thresholds, the defaults of the DAG's drift check and the job's drift_status.
MODERATE_PSI = 0.1
HIGH_PSI = 0.25
OK, MODERATE, HIGH, NO_BASELINE = "ok", "moderate", "high", "no_baseline"


def bin_index(entry: dict) -> Column:
    """The 0-based bin of a baseline entry that the row falls in, in the order of its shares: one
    CASE per feature, so each row is binned once (a condition per bin, evaluated by an aggregate,
    cost more: docs/benchmark.md, "Reasons and drift")."""
    c = F.col(entry["feature"])
    if entry["kind"] == CATEGORICAL:
        levels = entry["levels"]
        binned = None
        for j, level in enumerate(levels):
            binned = F.when(c == F.lit(level), F.lit(j)) if binned is None else binned.when(c == F.lit(level), F.lit(j))
        return F.lit(len(levels)) if binned is None else binned.otherwise(F.lit(len(levels)))  # unseen or blank
    x = c.cast("double")
    edges = entry["edges"]
    binned = F.when(x.isNull(), F.lit(len(edges) + 1))  # blank
    for j, edge in enumerate(edges):  # edges ascend: the first edge at or above x closes its bin
        binned = binned.when(x <= F.lit(edge), F.lit(j))
    return binned.otherwise(F.lit(len(edges)))  # above the last edge


def _bin_column(i: int) -> str:
    return f"_drift_bin_{i}"


def with_bins(rows: DataFrame, baseline: dict | None, kinds: tuple[str, ...]) -> DataFrame:
    """`rows` with the bin of each baseline entry of these kinds in a helper column (conform drops
    it before the write)."""
    if not baseline:
        return rows
    return rows.withColumns({_bin_column(i): bin_index(e) for i, e in enumerate(baseline["features"]) if e["kind"] in kinds})


def _bins(baseline: dict | None, kinds: tuple[str, ...]) -> list[tuple[int, int, str]]:
    """(entry, bin, the name of its count) for every bin of the baseline's entries of these kinds."""
    if not baseline:
        return []
    entries = [(i, e) for i, e in enumerate(baseline["features"]) if e["kind"] in kinds]
    return [(i, j, f"drift:{i}:{j}") for i, e in entries for j in range(len(bin_labels(e)))]


def bin_count_columns(baseline: dict | None, kinds: tuple[str, ...]) -> list[Column]:
    """The aggregate expressions that count the rows per bin of the entries of these kinds, for an
    Observation over with_bins() rows."""
    return [F.count(F.when(F.col(_bin_column(i)) == F.lit(j), 1)).alias(name) for i, j, name in _bins(baseline, kinds)]


def bin_labels(entry: dict) -> list[str]:
    if entry["kind"] == CATEGORICAL:
        return [*entry["levels"], "(unseen)"]
    e = [f"{v:g}" for v in entry["edges"]]
    if not e:
        return ["(any)", "(blank)"]
    return [f"<= {e[0]}"] + [f"({lo}, {hi}]" for lo, hi in zip(e, e[1:], strict=False)] + [f"> {e[-1]}", "(blank)"]


def _edges(found: dict, name: str) -> list[float]:
    values = found[name] or []
    return sorted({float(v) for v in values if v is not None})


def _shares(counts: Sequence[int]) -> list[float]:
    total = sum(counts)
    return [n / total if total else 0.0 for n in counts]


def measure(rows: DataFrame, entries: list[dict]) -> tuple[list[dict], int]:
    """Counts the bins of `entries` over `rows` (one Spark job): the entries with their shares, and the rows."""
    baseline, kinds = {"features": entries}, tuple({e["kind"] for e in entries})
    counts = bin_count_columns(baseline, kinds)
    found = with_bins(rows, baseline, kinds).select(F.count(F.lit(1)).alias("rows"), *counts).first().asDict()
    by_entry: dict[int, list[int]] = {}
    for i, _, name in _bins(baseline, kinds):
        by_entry.setdefault(i, []).append(found[name])
    return [{**e, "shares": _shares(by_entry[i])} for i, e in enumerate(entries)], found["rows"]


def numeric_entries(rows: DataFrame, columns: list[str], kind: str) -> list[dict]:
    """Decile cut points of each numeric column (one Spark job)."""
    pct = [F.percentile_approx(F.col(c).cast("double"), DECILES, QUANTILE_ACCURACY).alias(c) for c in columns]
    found = rows.select(*pct).first().asDict()
    return [{"feature": c, "kind": kind, "edges": _edges(found, c), "levels": []} for c in columns]


def training_baseline(train_rows: DataFrame, scored_test: DataFrame, levels: dict[str, list[str]]) -> dict:
    """The drift_baseline of a model version: training rows' feature bins, held-out score bins."""
    features = numeric_entries(train_rows, DRIFT_NUMERIC, NUMERIC)
    features += [{"feature": c, "kind": CATEGORICAL, "edges": [], "levels": list(levels[c])} for c in DRIFT_CATEGORICAL]
    features, rows = measure(train_rows, features)
    score, score_rows = measure(scored_test, numeric_entries(scored_test, [SCORE], PREDICTION))
    return {"rows": rows, "score_rows": score_rows, "features": features + score}


def bin_count_names(baseline: dict | None, kinds: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(name for _, _, name in _bins(baseline, kinds))


def observe_bins(rows: DataFrame, observation, baseline: dict | None, kinds: tuple[str, ...]) -> DataFrame:
    """`rows`, counting the bins of the baseline's entries of these kinds in `observation` (the
    rows unchanged, with helper columns, when there is no such entry)."""
    counts = bin_count_columns(baseline, kinds)
    return with_bins(rows, baseline, kinds).observe(observation, *counts) if counts else rows


def psi(expected: Sequence[float], actual: Sequence[float], epsilon: float = EPSILON) -> float:
    e = [max(v, epsilon) for v in expected]
    a = [max(v, epsilon) for v in actual]
    return sum((ai - ei) * math.log(ai / ei) for ai, ei in zip(a, e, strict=True))


def js_distance(expected: Sequence[float], actual: Sequence[float]) -> float:
    """sqrt of the Jensen-Shannon divergence, base-2 logarithms (0 <= d <= 1)."""

    def kl(p: Sequence[float], q: Sequence[float]) -> float:
        return sum(pi * math.log2(pi / qi) for pi, qi in zip(p, q, strict=True) if pi > 0)

    m = [(x + y) / 2 for x, y in zip(expected, actual, strict=True)]
    divergence = (kl(expected, m) + kl(actual, m)) / 2
    return math.sqrt(max(divergence, 0.0))


def status_of(value: float, moderate: float, high: float) -> str:
    return HIGH if value >= high else MODERATE if value >= moderate else OK


def drift_rows(baseline: dict, counts: dict, moderate: float = MODERATE_PSI, high: float = HIGH_PSI) -> list[dict]:
    """One row per feature: PSI, JS distance, status and the bins, from the observed counts."""
    out = []
    for i, e in enumerate(baseline["features"]):
        labels = bin_labels(e)
        observed = [int(counts[f"drift:{i}:{j}"]) for j in range(len(labels))]
        actual = _shares(observed)
        expected = list(e["shares"])
        value = psi(expected, actual)
        moved = max(range(len(labels)), key=lambda j: (abs(actual[j] - expected[j]), -j))
        out.append(
            {
                "feature": e["feature"],
                "kind": e["kind"],
                "rows": sum(observed),
                "psi": round(value, 6),
                "js_distance": round(js_distance(expected, actual), 6),
                "status": status_of(value, moderate, high),
                "largest_shift": f"{labels[moved]}: {expected[moved]:.3f} -> {actual[moved]:.3f}",
                "bins": json.dumps(
                    [
                        {"bin": b, "expected": round(x, 6), "actual": round(y, 6)}
                        for b, x, y in zip(labels, expected, actual, strict=False)
                    ]
                ),
            }
        )
    return out


def overall_status(rows: list[dict]) -> str:
    order = [OK, MODERATE, HIGH]
    return max((r["status"] for r in rows), key=order.index, default=OK)


def check_baseline(baseline, where: str) -> dict | None:
    """The baseline if it is well formed, None if there is none; a JobError naming what is wrong."""
    if baseline is None:
        return None
    for e in baseline.get("features") or []:
        n = len(bin_labels(e))
        if len(e.get("shares") or []) != n:
            raise JobError(
                f"{where}: drift_baseline of {e.get('feature')!r} has {len(e.get('shares') or [])} shares, expected {n}"
            )
    return baseline
