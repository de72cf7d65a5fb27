"""The columns a query reads of each stage (``backends.columns``): what a stage keeps."""

from __future__ import annotations

import ibis
import pytest

from socialrating.backends.columns import columns_read

STAGES = {"stage_1_a": ["x", "y", "z"], "stage_2_b": ["k", "v", "w"]}


def read(sql: str, dialect: str = "postgres") -> dict[str, set[str]]:
    return columns_read(sql, dialect, STAGES)


def test_the_columns_named_through_an_alias_or_alone() -> None:
    assert read("SELECT t.x FROM stage_1_a AS t WHERE t.y > 1") == {"stage_1_a": {"x", "y"}}
    assert read("SELECT x FROM stage_1_a ORDER BY z") == {"stage_1_a": {"x", "z"}}
    found = read(
        """SELECT a.x, b.v FROM stage_1_a AS a JOIN stage_2_b AS b ON a.y = b.k
           WHERE b.k IN (SELECT w FROM stage_2_b)"""
    )
    assert found == {"stage_1_a": {"x", "y"}, "stage_2_b": {"k", "v", "w"}}


def test_a_window_group_and_subquery_count() -> None:
    sql = """SELECT s.k, sum(s.v) OVER (PARTITION BY s.w ORDER BY s.k) AS r
             FROM (SELECT * FROM stage_2_b) AS s
             UNION ALL SELECT y, count(*) FROM stage_1_a GROUP BY y"""
    # The star reads every column of stage_2_b; stage_1_a its y alone.
    assert read(sql) == {"stage_2_b": {"k", "v", "w"}, "stage_1_a": {"y"}}


def test_a_star_or_a_table_read_for_its_rows_alone() -> None:
    assert read("SELECT t.* FROM stage_1_a AS t") == {"stage_1_a": {"x", "y", "z"}}
    assert read("SELECT count(*) FROM stage_2_b") == {"stage_2_b": {"k"}}  # its first
    assert read("SELECT count(*) FROM entries") == {}  # not a stage


def test_a_column_that_could_be_either_sources_counts_for_both() -> None:
    both = {"stage_1_a": ["x", "k"], "stage_2_b": ["k", "v"]}
    found = columns_read("SELECT k FROM stage_1_a, stage_2_b", "postgres", both)
    assert found == {"stage_1_a": {"k"}, "stage_2_b": {"k"}}


@pytest.mark.parametrize("dialect", ["duckdb", "postgres", "pyspark"])
def test_ibis_sql_for_each_engine(dialect: str) -> None:
    """What Ibis writes for each engine (quoted names, its own aliases) is read the same."""
    if dialect == "pyspark":
        pytest.importorskip("pyspark")
        assert ibis.pyspark is not None  # the backend, for its compiler's options
    a = ibis.table({"x": "int64", "y": "int8", "z": "string"}, name="stage_1_a")
    b = ibis.table({"k": "int64", "v": "float64", "w": "string"}, name="stage_2_b")
    joined = a.filter(a.y > 0).join(b, a.x == b.k).select("z", "v")
    sql = str(ibis.to_sql(joined.group_by("z").aggregate(total=joined.v.sum()), dialect=dialect))
    engine = "spark" if dialect == "pyspark" else dialect
    assert columns_read(sql, engine, STAGES) == {
        "stage_1_a": {"x", "y", "z"},
        "stage_2_b": {"k", "v"},
    }


def test_a_shared_part_narrowed_to_what_is_read_gives_the_same_rows() -> None:
    import duckdb

    from socialrating.backends.columns import narrowed

    sql = """WITH wide AS (SELECT * FROM entries WHERE day > 1)
             SELECT a.subject_id, count(*) AS n FROM wide AS a
             JOIN (SELECT * FROM wide) AS b ON a.subject_id = b.subject_id AND b.points < 0
             GROUP BY a.subject_id ORDER BY a.subject_id"""
    tables = {"entries": ["entry_id", "subject_id", "day", "points", "evidence"]}
    narrow = narrowed(sql, "duckdb", tables)
    assert "evidence" not in narrow and "entry_id" not in narrow  # read by nothing
    assert "points" in narrow and "day" in narrow
    con = duckdb.connect()
    con.execute(
        """CREATE TABLE entries AS SELECT i AS entry_id, i % 7 AS subject_id, i % 5 AS day,
           (i % 3) - 1 AS points, 'x' || i AS evidence FROM range(200) t(i)"""
    )
    assert con.execute(narrow).fetchall() == con.execute(sql).fetchall() != []
