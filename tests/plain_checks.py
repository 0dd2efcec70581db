"""The plain column checks' workload (not-null, e-mail regex, isin, length, unique) on one frame, through
crm_ops' engine and bare pandera-polars: ``benchmarks/rules_bench.py`` measures it at 1M rows beside its
other peers, and ``tests/integration/test_perf_ratios.py`` holds the ratio of the two in CI."""

from __future__ import annotations

import polars as pl

EMAIL_RE = r"^[a-z0-9][a-z0-9._%+-]*@[a-z0-9-]+(\.[a-z0-9-]+)*\.[a-z]{2,}$"
COUNTRIES = ["US", "GB", "DE", "FR", "CA", "AU", "ES", "NL"]


def plain_frame(rows: int) -> pl.DataFrame:
    """One frame of contacts-like columns, about 1% of each column failing."""
    import numpy as np

    rng = np.random.default_rng(7)
    i = np.arange(rows)
    email = pl.Series([f"user{n}@example{n % 997}.com" for n in i])
    bad = rng.random(rows) < 0.01
    email = pl.Series(np.where(bad, "not-an-email", email.to_numpy()))
    country = pl.Series(np.array([*COUNTRIES, "Germany"])[rng.integers(0, 9, rows)])
    name = pl.Series(np.where(rng.random(rows) < 0.01, "", "Smith"))
    ids = pl.Series([f"id{n}" for n in i]).scatter([0, 1], ["dup", "dup"])
    return pl.DataFrame({"id": ids, "email": email, "country": country, "last_name": name}).with_columns(
        pl.when(pl.int_range(pl.len()) % 100 == 5).then(None).otherwise(pl.col("email")).alias("email")
    )


def run_ours(frame: pl.DataFrame) -> int:
    """Plain rules through crm_ops' engine (as YAML rules would be)."""
    from crm_ops.rules.engine import run_entity
    from crm_ops.rules.library import generic_check
    from crm_ops.rules.model import Rule, RuleContext

    specs = [
        ("email", "not_null", True),
        ("email", "matches", EMAIL_RE),
        ("country", "isin", COUNTRIES),
        ("last_name", "length", {"min": 1, "max": 80}),
        ("id", "unique", True),
    ]
    rules = [
        Rule(id=f"plain.{c}.{k}", entities=("Contact",), severity="error", description=k,
             check=generic_check(k, spec, c), field=c)
        for c, k, spec in specs
    ]  # fmt: skip
    ctx = RuleContext({"salesforce": {"Contact": frame}})
    return run_entity(rules, frame, ctx, "salesforce", "Contact").findings.height


def run_pandera_polars(frame: pl.DataFrame) -> int:
    """The same checks, bare pandera on polars."""
    import pandera.polars as pa

    schema = pa.DataFrameSchema(
        {
            "id": pa.Column(str, unique=True),
            "email": pa.Column(str, nullable=False, checks=pa.Check.str_matches(EMAIL_RE)),
            "country": pa.Column(str, checks=pa.Check.isin(COUNTRIES)),
            "last_name": pa.Column(str, checks=pa.Check.str_length(1, 80)),
        }
    )
    try:
        schema.validate(frame, lazy=True)
    except pa.errors.SchemaErrors as exc:
        return int(exc.failure_cases.height)
    return 0
