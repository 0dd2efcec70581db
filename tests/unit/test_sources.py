"""Sources beyond the CRMs: files (CSV, Parquet, JSON Lines, globs) and SQL (SQLite, DuckDB) pulled into
snapshots through the connector contract, incrementally, resumably; bad input named by file, line and
column with nothing half written; the config checked at load."""

from __future__ import annotations

import sqlite3
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import duckdb
import polars as pl
import pytest

from crm_ops.config import load_profile
from crm_ops.connectors.base import Change, Connector
from crm_ops.connectors.source import ERASE_ELSEWHERE, READ_ONLY, SourceConnector
from crm_ops.errors import ConfigError
from crm_ops.pull import Puller, read_snapshot
from crm_ops.state import State

MAP = """entity: Subscription
required:
  id: sub_id
  customer_id: customer
  status: status
optional:
  updated_at: updated
  account_domain: domain
  mrr: mrr
  currency: currency
  start_date: start
  cancelled_at: cancelled
"""
HEADER = "sub_id,customer,domain,status,mrr,currency,start,cancelled,updated\n"
ROWS = [
    "s1,c1,acme.com,active,100.5,USD,2024-01-01,,2024-05-01T10:00:00Z\n",
    's2,c2,"beta.io",canceled,50,EUR,2023-06-01,2024-03-31 23:59:59,2024-04-01 09:00:00\n',
    "s3,c3,gamma.de,active,75,EUR,2024-02-10,,1714557600\n",  # epoch seconds: 2024-05-01 10:00 UTC
]


def _profile(folder: Path, source: str) -> Path:
    (folder / "map.yaml").write_text(MAP)
    config = folder / "crm-ops.toml"
    config.write_text(f'[profiles.t]\nstate_dir = "state"\nproduction = false\n{source}')
    return config


def _pull(config: Path, full: bool = False) -> list[str]:
    puller = Puller(load_profile(config, "t"))
    try:
        return [r.mode for r in puller.pull_many(["billing"], full=full)]
    finally:
        puller.close()


def _files(folder: Path) -> Path:
    (folder / "exports").mkdir()
    (folder / "exports" / "subs-1.csv").write_text(HEADER + "".join(ROWS[:2]))
    pl.DataFrame(
        {
            "sub_id": ["s3"],
            "customer": ["c3"],
            "domain": ["gamma.de"],
            "status": ["active"],
            "mrr": [75.0],
            "currency": ["EUR"],
            "start": [date(2024, 2, 10)],
            "cancelled": [None],
            "updated": [1714557600],
        }
    ).write_parquet(folder / "exports" / "subs-2.parquet")
    return _profile(
        folder,
        '[profiles.t.sources.billing]\nentity = "Subscription"\npath = "exports/subs-*"\nmap = "map.yaml"\n',
    )


def test_csv_and_parquet_files_by_glob_make_one_typed_snapshot(tmp_path: Path) -> None:
    config = _files(tmp_path)
    assert _pull(config) == ["full"]
    snap = read_snapshot(tmp_path / "state", "billing", "Subscription").sort("id")
    assert snap["id"].to_list() == ["s1", "s2", "s3"]
    assert snap["source_system"].unique().to_list() == ["billing"]
    assert snap["mrr"].to_list() == [100.5, 50.0, 75.0]
    assert snap["start_date"].to_list() == [date(2024, 1, 1), date(2023, 6, 1), date(2024, 2, 10)]
    assert snap["updated_at"].to_list() == [
        datetime(2024, 5, 1, 10, tzinfo=UTC),
        datetime(2024, 4, 1, 9, tzinfo=UTC),
        datetime(2024, 5, 1, 10, tzinfo=UTC),
    ]
    assert snap["cancelled_at"][1] == datetime(2024, 3, 31, 23, 59, 59, tzinfo=UTC)
    assert not snap["is_deleted"].any()


def test_a_second_pull_is_incremental_and_lays_new_rows_over_the_snapshot(tmp_path: Path) -> None:
    config = _files(tmp_path)
    _pull(config)
    (tmp_path / "exports" / "subs-3.csv").write_text(
        HEADER + "s1,c1,acme.com,canceled,100.5,USD,2024-01-01,2024-06-01T00:00:00Z,2024-06-01T00:00:00Z\n"
    )
    assert _pull(config) == ["incremental"]
    snap = read_snapshot(tmp_path / "state", "billing", "Subscription").sort("id")
    assert snap.height == 3
    assert snap.filter(pl.col("id") == "s1")["status"].item() == "canceled"


def test_a_row_stamped_ahead_of_our_clock_does_not_carry_the_watermark_past_later_rows(
    tmp_path: Path,
) -> None:
    config = _files(tmp_path)
    ahead = (datetime.now(UTC) + timedelta(hours=12)).strftime("%Y-%m-%dT%H:%M:%SZ")  # its clock is ahead
    (tmp_path / "exports" / "subs-3.csv").write_text(
        HEADER + f"s4,c4,delta.io,active,9,USD,2024-01-01,,{ahead}\n"
    )
    assert _pull(config) == ["full"]
    state = State(tmp_path / "state" / "state.sqlite")
    current = state.current("billing", "Subscription")
    state.close()
    assert current is not None and current.watermark is not None
    assert current.watermark <= datetime.now(UTC)  # the pull's window end, not the row's stamp
    # a row written a minute ago, after the pull: its stamp is before the one ahead, after the window
    just_now = (datetime.now(UTC) - timedelta(seconds=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    (tmp_path / "exports" / "subs-4.csv").write_text(
        HEADER + f"s5,c5,eps.io,active,3,USD,2024-01-01,,{just_now}\n"
    )
    assert _pull(config) == ["incremental"]
    snap = read_snapshot(tmp_path / "state", "billing", "Subscription")
    assert sorted(snap["id"].to_list()) == ["s1", "s2", "s3", "s4", "s5"]


def test_json_lines_are_read_and_a_broken_line_is_named(tmp_path: Path) -> None:
    lines = '{"sub_id": "s1", "customer": "c1", "status": "active", "updated": "2024-05-01T10:00:00Z"}\n'
    (tmp_path / "subs.jsonl").write_text(lines)
    config = _profile(tmp_path, '[profiles.t.sources.billing]\npath = "subs.jsonl"\nmap = "map.yaml"\n')
    _pull(config)
    assert read_snapshot(tmp_path / "state", "billing", "Subscription")["customer_id"].to_list() == ["c1"]
    (tmp_path / "subs.jsonl").write_text(lines + '{"sub_id": "s2", "customer": \n')
    with pytest.raises(ConfigError, match=r"subs\.jsonl:2: not JSON"):
        _pull(config, full=True)


def _sqlite(folder: Path, rows: int) -> Path:
    db = folder / "billing.db"
    with sqlite3.connect(db) as conn:
        conn.execute(
            "CREATE TABLE subs (sub_id INTEGER PRIMARY KEY, customer TEXT, status TEXT, mrr REAL, "
            "updated TEXT)"
        )
        conn.executemany(
            "INSERT INTO subs VALUES (?, ?, ?, ?, ?)",
            [(i, f"c{i}", "active", 10.0 * i, f"2024-05-{1 + i % 28:02d}T10:00:00Z") for i in range(rows)],
        )
    conn.close()
    return _profile(
        folder,
        '[profiles.t.sources.billing]\ndatabase = "billing.db"\ntable = "subs"\nmap = "map.yaml"\n'
        "page_rows = 4\n",
    )


def test_a_sqlite_table_is_paged_by_keyset_resumes_after_a_kill_and_then_goes_incremental(
    tmp_path: Path,
) -> None:
    config = _sqlite(tmp_path, 10)
    puller = Puller(load_profile(config, "t"))

    def die(job: object, rows: int) -> None:
        raise KeyboardInterrupt  # killed once the first page is written and its cursor committed

    puller.on_page = die
    with pytest.raises(KeyboardInterrupt):
        puller.pull("billing", "Subscription")
    puller.close()
    state = State(tmp_path / "state" / "state.sqlite")
    job = state.open_pull("billing", "Subscription")
    state.close()
    assert job is not None and job.parts == 1 and job.cursor == {"last": [None, 3]}
    puller = Puller(load_profile(config, "t"))
    result = puller.pull("billing", "Subscription")
    puller.close()
    assert result.resumed and result.total == 10
    snap = read_snapshot(tmp_path / "state", "billing", "Subscription").sort("mrr")
    assert snap["id"].to_list() == [str(i) for i in range(10)]  # integer ids become text, none twice
    with sqlite3.connect(tmp_path / "billing.db") as conn:
        conn.execute("UPDATE subs SET status = 'canceled', updated = '2024-07-01T00:00:00Z' WHERE sub_id = 7")
    conn.close()
    puller = Puller(load_profile(config, "t"))
    again = puller.pull("billing", "Subscription")
    puller.close()
    # what changed since the watermark, and the newest row again (the overlap re-reads its last minutes)
    assert again.mode == "incremental" and again.changed == 2
    snap = read_snapshot(tmp_path / "state", "billing", "Subscription")
    assert snap.filter(pl.col("id") == "7")["status"].item() == "canceled"


def test_a_duckdb_file_is_read_through_a_query(tmp_path: Path) -> None:
    db = tmp_path / "product.duckdb"
    con = duckdb.connect(str(db))
    con.execute(
        "CREATE TABLE users AS SELECT i AS user_id, 'u' || i || '@acme.com' AS email, "
        "TIMESTAMPTZ '2024-01-01 00:00:00+00' + to_days(i) AS seen FROM range(7) t(i)"
    )
    con.close()
    (tmp_path / "crm-ops.toml").write_text(
        '[profiles.t]\nstate_dir = "state"\n[profiles.t.sources.product]\nentity = "ProductUser"\n'
        'database = "product.duckdb"\nquery = "SELECT * FROM users WHERE user_id > 1"\npage_rows = 2\n'
        '[profiles.t.sources.product.columns]\nid = "user_id"\nemail = "email"\nupdated_at = "seen"\n'
    )
    puller = Puller(load_profile(tmp_path / "crm-ops.toml", "t"))
    result = puller.pull("product", "ProductUser")
    puller.close()
    assert result.total == 5
    snap = read_snapshot(tmp_path / "state", "product", "ProductUser").sort("id")
    assert snap["email"].to_list() == [f"u{i}@acme.com" for i in range(2, 7)]
    assert snap["updated_at"][0] == datetime(2024, 1, 3, tzinfo=UTC)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (HEADER.replace("status", "state") + ROWS[0], r"subs-1\.csv: has no column 'status' \(mapped to "
         r"Subscription\.status at .*map\.yaml:5\); its columns: sub_id, customer, domain, state"),
        (HEADER + ROWS[0] + "s9,c9,x.com,active,12,USD,2024-13-45,,2024-05-01\n",
         r"subs-1\.csv:3: column 7 \(start\): '2024-13-45' is not a date \(Subscription\.start_date\)"),
        (HEADER + ROWS[0] + "s9,c9,x.com,active,twelve,USD,2024-01-01,,2024-05-01\n",
         r"subs-1\.csv:3: column 5 \(mrr\): 'twelve' is not a number \(Subscription\.mrr\)"),
        (HEADER + ROWS[0] + 's9,c9,"x\n.com",active,1,USD,2024-01-01,,yesterday\n',
         r"subs-1\.csv:3: column 9 \(updated\): 'yesterday' is not a date and time"),
        (HEADER + ROWS[0] + "s9,c9,x.com,active,1,USD,2024-01-01,,2024-05-01,extra\n",
         r"subs-1\.csv:3: column 10: 10 field\(s\), the header has 9"),
        (HEADER + ROWS[0] + ",c9,x.com,active,1,USD,2024-01-01,,2024-05-01\n",
         r"subs-1\.csv:3: column 1 \(sub_id\): no id"),
    ],
    ids=["wrong columns", "bad date", "bad number", "bad time after a quoted line break", "broken row",
         "no id"],
)  # fmt: skip
def test_a_bad_file_is_named_by_file_line_and_column_and_nothing_is_half_written(
    tmp_path: Path, content: str, message: str
) -> None:
    config = _files(tmp_path)
    _pull(config)
    state = State(tmp_path / "state" / "state.sqlite")
    before = state.current("billing", "Subscription")
    state.close()
    assert before is not None
    snapshots = sorted((tmp_path / "state" / "snapshots").rglob("*.parquet"))
    (tmp_path / "exports" / "subs-1.csv").write_text(content)
    with pytest.raises(ConfigError, match=message):
        _pull(config, full=True)
    state = State(tmp_path / "state" / "state.sqlite")
    after = state.current("billing", "Subscription")
    state.close()
    assert after == before  # the snapshot in use is the one before
    assert sorted((tmp_path / "state" / "snapshots").rglob("*.parquet")) == snapshots
    assert read_snapshot(tmp_path / "state", "billing", "Subscription").height == 3


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ('path = "a.csv"\ndatabase = "b.db"\nmap = "m.yaml"', "give exactly one of path"),
        ('url = "postgresql://ops:hunter22@db/billing"\ntable = "s"\nmap = "m.yaml"', "holds a password"),
        ('path = "a.csv"\nmap = "m.yaml"\ntable = "x"', "table and query are for SQL sources"),
        ('database = "b.db"\nmap = "m.yaml"', "takes table or query"),
        ('path = "a.csv"', "give a field map"),
        ('path = "a.csv"\nmap = "m.yaml"\nentity = "Invoice"', "unknown entity 'Invoice'"),
        ('path = "a.csv"\nmap = "m.yaml"\npasword = "x"', r"pasword: unknown setting"),
        ('path = "a.csv"\nmap = "m.yaml"\npage_rows = "many"', "page_rows: expected int"),
    ],
)
def test_source_settings_are_checked_at_load(tmp_path: Path, source: str, message: str) -> None:
    (tmp_path / "crm-ops.toml").write_text(f"[profiles.t]\n[profiles.t.sources.billing]\n{source}\n")
    with pytest.raises(ConfigError, match=message) as caught:
        load_profile(tmp_path / "crm-ops.toml", "t")
    assert "hunter22" not in str(caught.value)


def test_a_source_name_cannot_be_a_crm_and_an_unknown_system_is_named(tmp_path: Path) -> None:
    (tmp_path / "crm-ops.toml").write_text('[profiles.t]\n[profiles.t.sources.hubspot]\npath = "a.csv"\n')
    with pytest.raises(ConfigError, match="not salesforce or hubspot"):
        load_profile(tmp_path / "crm-ops.toml", "t")
    config = _files(tmp_path)
    puller = Puller(load_profile(config, "t"))
    with pytest.raises(ConfigError, match="no system or source 'invoices'; it has billing"):
        puller.connector("invoices")
    puller.close()


def test_a_source_keeps_the_contract_and_refuses_writes(tmp_path: Path) -> None:
    config = _files(tmp_path)
    conn = SourceConnector(load_profile(config, "t").sources["billing"])
    assert isinstance(conn, Connector)
    assert conn.entities() == ("Subscription",) and conn.incremental("Subscription")
    assert {f.name: f.canonical for f in conn.describe("Subscription")}["customer"] == "customer_id"
    assert conn.read("Subscription", ["s2"])["status"].to_list() == ["canceled"]
    refused = conn.push("Subscription", [Change("s1", {"status": "active"})])
    assert not refused[0].ok and refused[0].error == READ_ONLY
    # erasure: never deleted here; the source's owner erases the person's rows
    erased = conn.erase("Subscription", ["s1", "s2"])
    assert [r.record_id for r in erased] == ["s1", "s2"]
    assert not any(r.ok for r in erased) and all(r.error == ERASE_ELSEWHERE for r in erased)
    assert all(r.extra["hard_deleted"] is False for r in erased)
    conn.close()


def test_crm_ops_pull_takes_a_source_by_name(tmp_path: Path) -> None:
    import os

    from tests.command import crm_ops

    config = _files(tmp_path)
    env = {**os.environ, "CRM_OPS_LOG_FORMAT": "json"}
    done = crm_ops("pull", "-c", config, "-p", "t", "-s", "billing", env=env)  # in this process
    assert done.returncode == 0, done.stderr
    assert "billing" in done.stdout and "Subscription" in done.stdout
    wrong = crm_ops("pull", "-c", config, "-p", "t", "-s", "invoices", env=env)
    assert wrong.returncode == 2
    assert "unknown system invoices" in wrong.stderr and "(billing)" in wrong.stderr


def test_doctor_reads_each_source_and_names_what_its_map_lacks(tmp_path: Path) -> None:
    from crm_ops.doctor import run_doctor

    config = _files(tmp_path)
    found = {(f.system, f.check, f.status) for f in run_doctor(load_profile(config, "t"))}
    assert ("billing", "reach", "ok") in found and not any(s == "fail" for _, _, s in found)
    (tmp_path / "map.yaml").write_text(MAP.replace("status: status", "status: state"))
    failed = [f for f in run_doctor(load_profile(config, "t")) if f.status == "fail"]
    assert [f.check for f in failed] == ["fields"] and "required column state missing" in failed[0].detail
    (tmp_path / "exports" / "subs-1.csv").unlink()
    (tmp_path / "exports" / "subs-2.parquet").unlink()
    failed = [f for f in run_doctor(load_profile(config, "t")) if f.status == "fail"]
    assert failed[0].check == "reach" and "no file matches" in failed[0].detail


def test_a_fix_proposed_for_a_source_record_is_a_flag_in_the_plan() -> None:
    from crm_ops.plan import build_plan
    from crm_ops.rules.model import FINDINGS_SCHEMA

    fix = ("person.email.normalised", "Contact")
    values = ("email", "A@B.COM", "warning", "not lower case", "a@b.com", 0.99)
    rows = [(*fix, "pipedrive", "p1", *values), (*fix, "salesforce", "003A", *values)]
    findings = pl.DataFrame(rows, schema=FINDINGS_SCHEMA, orient="row")
    kinds = {(a.system, a.kind, a.proposed_value) for a in build_plan(findings, profile="t").actions}
    assert kinds == {("pipedrive", "flag", None), ("salesforce", "update", "a@b.com")}


def test_a_database_url_with_a_password_comes_from_the_environment_and_never_shows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BILLING_DB", "postgresql+psycopg2://ops:hunter22@127.0.0.1:9/billing")
    config = _profile(
        tmp_path, '[profiles.t.sources.billing]\nurl_env = "BILLING_DB"\ntable = "s"\nmap = "map.yaml"\n'
    )
    puller = Puller(load_profile(config, "t"))
    with pytest.raises(ConfigError) as caught:
        puller.pull_many(["billing"])
    puller.close()
    assert "cannot use the database URL" in str(caught.value) and "hunter22" not in str(caught.value)
    monkeypatch.delenv("BILLING_DB")
    with pytest.raises(ConfigError, match="set the environment variable BILLING_DB"):
        SourceConnector(load_profile(config, "t").sources["billing"]).pull(
            "Subscription", since=None, until=datetime.now(UTC), cursor=None
        ).__next__()
