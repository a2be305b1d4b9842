"""Deterministic generator of Telco customer-churn data, with the dirt of real exports.

The same seed always gives the same rows, so the sample files in pyspark/data/ can be checked
against the generator and the benchmark can make any number of rows without shipping them.

    PYTHONPATH=pyspark python -m local.sample_data --out pyspark/data          # the lab's two sample files
    PYTHONPATH=pyspark python -m local.sample_data --rows 1000000 --out /tmp/x  # a bigger scoring input
"""

from __future__ import annotations

import argparse
import csv
import math
import random
import sys
from pathlib import Path
from typing import Iterator

from s8s_churn.contract import INPUT_COLUMNS, LABEL_COLUMN
from s8s_churn.contract import INTERNET_ADDONS_RAW as ADDONS

TRAINING_FILE = "training.csv"
SCORING_FILE = "scoring.csv"
TRAINING_ROWS = 7000
SCORING_ROWS = 400
TRAINING_SEED = 8
SCORING_SEED = 88

PAYMENT_METHODS = ["Electronic check", "Mailed check", "Bank transfer (automatic)", "Credit card (automatic)"]

# Rows a real export gets wrong; the scoring sample carries a few so the lab shows rejects.
BAD_ROWS = [
    {"tenure": "twelve"},
    {"SeniorCitizen": "2"},
    {"MonthlyCharges": "n/a"},
    {"TotalCharges": "12,5"},
    {"customerID": ""},
]


def _yes(rng: random.Random, p: float) -> str:
    return "Yes" if rng.random() < p else "No"


def customer(rng: random.Random, index: int, prefix: str) -> dict[str, str]:
    """One customer as the CSV export writes it (every value a string)."""
    contract = rng.choices(["Month-to-month", "One year", "Two year"], weights=[55, 21, 24])[0]
    max_tenure = {"Month-to-month": 40, "One year": 60, "Two year": 72}[contract]
    # New customers are common; a few have tenure 0 and no TotalCharges yet.
    tenure = 0 if rng.random() < 0.012 else min(72, int(rng.expovariate(1 / (max_tenure / 2.2))) + 1)
    senior = 1 if rng.random() < 0.16 else 0
    phone = _yes(rng, 0.9)
    lines = ("Yes" if rng.random() < 0.47 else "No") if phone == "Yes" else "No phone service"
    internet = rng.choices(["DSL", "Fiber optic", "No"], weights=[34, 44, 22])[0]
    addons = {a: ("No internet service" if internet == "No" else _yes(rng, 0.4)) for a in ADDONS}
    payment = rng.choices(PAYMENT_METHODS, weights=[34, 23, 22, 21])[0]
    paperless = _yes(rng, 0.59)
    monthly = 19.0 + (0 if internet == "No" else (25.0 if internet == "DSL" else 50.0))
    monthly += (5.0 if phone == "Yes" else 0) + (5.0 if lines == "Yes" else 0)
    monthly += sum(5.0 for a in ADDONS if addons[a] == "Yes") + rng.uniform(-2.0, 2.0)
    monthly = round(max(18.25, min(118.75, monthly)), 2)
    total = "" if tenure == 0 else f"{round(monthly * tenure * rng.uniform(0.95, 1.05), 2):.2f}"
    row = {
        "customerID": f"{prefix}{index:07d}-{''.join(rng.choices('ABCDEFGHIJKLMNOPQRSTUVWXYZ', k=5))}",
        "gender": rng.choice(["Male", "Female"]),
        "SeniorCitizen": str(senior),
        "Partner": _yes(rng, 0.48),
        "Dependents": _yes(rng, 0.3),
        "tenure": str(tenure),
        "PhoneService": phone,
        "MultipleLines": lines,
        "InternetService": internet,
        **addons,
        "Contract": contract,
        "PaperlessBilling": paperless,
        "PaymentMethod": payment,
        "MonthlyCharges": f"{monthly:.2f}",
        "TotalCharges": total,
    }
    # Churn follows the drivers known from the real data set: short month-to-month contracts,
    # fiber, electronic checks and no support churn; long contracts stay.
    logit = -1.45
    logit += {"Month-to-month": 1.3, "One year": -0.4, "Two year": -1.7}[contract]
    logit += 0.8 if internet == "Fiber optic" else (-0.6 if internet == "No" else 0.0)
    logit += 0.55 if payment == "Electronic check" else 0.0
    logit += -0.035 * tenure + 0.35 * senior + (0.25 if paperless == "Yes" else 0.0)
    logit += -0.45 if addons["TechSupport"] == "Yes" else 0.0
    logit += -0.45 if addons["OnlineSecurity"] == "Yes" else 0.0
    row[LABEL_COLUMN] = "Yes" if rng.random() < 1 / (1 + math.exp(-logit)) else "No"
    return row


def customers(rows: int, seed: int, with_label: bool, prefix: str = "C", bad_rows: bool = False) -> Iterator[dict[str, str]]:
    """`rows` customers; with `bad_rows`, BAD_ROWS spread evenly among them."""
    rng = random.Random(seed)
    bad_at = {rows * (i + 1) // (len(BAD_ROWS) + 1): bad for i, bad in enumerate(BAD_ROWS)} if bad_rows else {}
    for i in range(rows):
        row = customer(rng, i, prefix)
        row.update(bad_at.get(i, {}))
        if not with_label:
            del row[LABEL_COLUMN]
        yield row


def write_csv(path: Path, rows: Iterator[dict[str, str]], with_label: bool) -> int:
    path.parent.mkdir(parents=True, exist_ok=True)
    columns = INPUT_COLUMNS + ([LABEL_COLUMN] if with_label else [])
    count = 0
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=columns, lineterminator="\n")
        writer.writeheader()
        for row in rows:
            writer.writerow(row)
            count += 1
    return count


def write_lab_samples(out: Path) -> dict[str, int]:
    """The two files the stack uploads: labelled training data and a scoring input."""
    return {
        TRAINING_FILE: write_csv(out / TRAINING_FILE, customers(TRAINING_ROWS, TRAINING_SEED, True, "T"), True),
        SCORING_FILE: write_csv(out / SCORING_FILE, customers(SCORING_ROWS, SCORING_SEED, False, "S", bad_rows=True), False),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, required=True, help="folder to write into")
    parser.add_argument("--rows", type=int, help="write only a scoring input of this many rows")
    parser.add_argument("--seed", type=int, default=SCORING_SEED)
    args = parser.parse_args(argv)
    if args.rows is None:
        written = write_lab_samples(args.out)
    else:
        if args.rows < 1:
            parser.error(f"--rows: {args.rows} is not a positive number of rows")
        written = {SCORING_FILE: write_csv(args.out / SCORING_FILE, customers(args.rows, args.seed, False, "B"), False)}
    for name, count in written.items():
        print(f"wrote {count} rows to {args.out / name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
