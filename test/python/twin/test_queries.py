"""Every SQL text the lab ships or prints runs in the emulated BigQuery on a real run's rows.
A query the README or docs/ gives that does not run, or returns nothing for the run, fails here."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import REPO
from local.twin import sql as twin_sql

FIXTURE = Path(__file__).parent / "fixtures" / "seed_7_5.sql"
SEED = REPO.parent / "shared" / "seed" / "Module-08-Orchestrate-Batch-Scoring.md"
DOCUMENTED = twin_sql.documented_queries()


def test_the_docs_give_the_walkthroughs_queries():
    """The model_versions and batch_runs queries of the walkthrough are among those run below."""
    text = [" ".join(q.sql.split()) for q in DOCUMENTED]
    assert any("customer_churn_ds.model_versions" in t and "ORDER BY trained_at DESC" in t for t in text)
    assert any("customer_churn_ds.batch_runs` WHERE pipeline_id = 'YOUR_PIPELINE_ID'" in t for t in text)
    assert any(t.startswith("SELECT * FROM customer_churn_ds.batch_runs ORDER BY ended_at DESC") for t in text)


@pytest.mark.parametrize("query", DOCUMENTED, ids=[q.source for q in DOCUMENTED])
def test_every_documented_query_runs_and_returns_the_runs_rows(bq, scored, query):
    pipeline_id, _, _ = scored
    rows = twin_sql.run(bq, query.sql, pipeline_id)
    assert rows, f"{query.source}: no rows for pipeline_id {pipeline_id}:\n{query.sql}"


def test_the_stacks_results_query_returns_the_runs_predictions(bq, stack, scored):
    pipeline_id, summary, _ = scored
    sql = stack["outputs"]["results_query"]
    assert "'PIPELINE_ID'" in sql
    rows = twin_sql.run(bq, sql, pipeline_id)
    assert len(rows) == summary["scored"] and {r["pipeline_id"] for r in rows} == {pipeline_id}


def seed_query() -> str:
    return "\n".join(line for line in FIXTURE.read_text().splitlines() if not line.startswith("--")).strip()


@pytest.mark.skipif(not SEED.exists(), reason="the seed is not beside this clone (CI has it in ../shared)")
def test_the_fixture_is_the_seeds_section_7_5_query():
    section = SEED.read_text().split("### 7.5.", 1)[1]
    block = section.split("```", 2)[1].strip()
    assert block == seed_query()


def test_the_seeds_section_7_5_query_returns_the_runs_predictions(bq, scored):
    pipeline_id, summary, _ = scored
    rows = twin_sql.run(bq, seed_query(), pipeline_id)
    assert len(rows) == summary["scored"]
