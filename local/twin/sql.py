"""The SQL the lab ships or prints, found where it is written, and run against the BigQuery emulator.

- every ```sql block and every inline `SELECT ...` of README.md and docs/*.md (read from the files,
  so a query added later is run too);
- the stack's results_query output (local/twin/stack.ts);
- the seed's section 7.5 query (test/python/twin/fixtures/seed_7_5.sql, copied from the seed).
Placeholders are bound to a real run: 'YOUR_PIPELINE_ID' and 'PIPELINE_ID' become its pipeline_id.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PLACEHOLDERS = ("YOUR_PIPELINE_ID", "PIPELINE_ID")


@dataclass(frozen=True)
class Query:
    source: str  # file:line, or the output's name
    sql: str


def statements(text: str) -> list[str]:
    """The statements of a SQL text, split on ';' at line ends (none of the lab's has one inside a string)."""
    return [s.strip() for s in re.split(r";\s*(?:\n|$)", text) if s.strip()]


def documented_queries(repo: Path = REPO) -> list[Query]:
    out = []
    for doc in [repo / "README.md", *sorted((repo / "docs").glob("*.md"))]:
        text = doc.read_text()
        name = doc.relative_to(repo)
        for m in re.finditer(r"^```sql\n(.*?)^```", text, flags=re.S | re.M):
            line = text[: m.start()].count("\n") + 1
            out += [Query(f"{name}:{line}", s) for s in statements(m.group(1))]
        for m in re.finditer(r"(?<!`)`(SELECT [^`]+)`(?!`)", text):
            out.append(Query(f"{name}:{text[: m.start()].count(chr(10)) + 1}", m.group(1).strip()))
    return out


def bind(sql: str, pipeline_id: str) -> str:
    for placeholder in PLACEHOLDERS:
        sql = sql.replace(f"'{placeholder}'", f"'{pipeline_id}'")
    return sql


def run(client, sql: str, pipeline_id: str) -> list[dict]:
    """Rows of a query as dicts, with the placeholders bound to pipeline_id."""
    return [dict(row.items()) for row in client.query(bind(sql, pipeline_id)).result()]
