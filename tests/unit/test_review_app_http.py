"""The review app over HTTP (issue 29): what it shows of a pending edit is what apply will read, the value
it checks is the one it writes, picks are held to the cluster's records and pickable fields, and every
rule, entity and state can be filtered on, however many there are."""

from __future__ import annotations

import http.client
import json
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from crm_ops import csvio, reviewapp
from crm_ops.api import Workspace
from crm_ops.check import profile_rules
from crm_ops.config import load_profile
from crm_ops.engines import state_snapshots
from crm_ops.errors import ConfigError
from crm_ops.layered import Snapshot
from crm_ops.plan import write_plan
from crm_ops.plan.edits import Edit, check_edits, read_edits
from crm_ops.plan.format import Action, Header, Plan
from crm_ops.plan.reviewfile import read_review_file
from crm_ops.plan.reviewstate import ReviewState
from crm_ops.progress import Steps
from crm_ops.reviewapp import ReviewServer
from crm_ops.reviewapp.running import Runner
from crm_ops.reviewapp.web import Review
from crm_ops.rules.model import example_frame
from crm_ops.state import State

PHONE = "+1 206 555 0100"  # a spreadsheet would read it as a formula: plan.csv holds it quoted


def _plan(rules: int = 0) -> Plan:
    def update(record: str, column: str, seen: str, proposed: str, rule: str) -> Action:
        return Action("update", "salesforce", "Contact", record, column, seen, proposed, rule, "warning",
                      0.99, "fix", approved=True).with_id()  # fmt: skip

    actions = [
        update("003D", "phone", "206 555 0100", PHONE, "person.phone.e164"),
        update("003E", "email", " e@x.com", "e@x.com", "person.email.normalised"),
        *[
            update(f"004{i:02d}", "email", f" u{i}@x.com", f"u{i}@x.com", f"rule.{i:02d}")
            for i in range(rules)
        ],
        *[
            Action("merge", "salesforce", "Contact", dup, "merge_into", "2026-01-01T00:00:00.000Z", "003A",
                   "match.duplicate", "info", 0.97, "same person", approved=False).with_id()
            for dup in ("003B", "003C")
        ],
    ]  # fmt: skip
    return Plan(
        Header("20261207T140000-abcdef", "2026-12-07T14:00:00Z", "sandbox", version=3), tuple(actions)
    )


@dataclass
class App:
    server: ReviewServer
    folder: Path
    checked: list[tuple[str, str | None]]  # what the edit check was given


def _serve(tmp_path: Path, plan: Plan) -> Iterator[App]:
    write_plan(plan, tmp_path)
    contacts = tmp_path / "contacts.parquet"
    example_frame(
        "Contact",
        [
            {"id": "003A", "email": "a@x.com"},
            {"id": "003B", "email": "b@x.com"},
            {"id": "003C", "email": "c@x.com"},
        ],
        "salesforce",
    ).write_parquet(contacts)
    checked: list[tuple[str, str | None]] = []

    def check(action_id: str, value: str | None) -> list[str]:
        checked.append((action_id, value))
        return []

    review = Review(
        plan,
        ReviewState(tmp_path, plan),
        lambda: {("salesforce", "Contact"): Snapshot(contacts)},
        check,
        "cron",
    )
    with ReviewServer(review) as server:
        yield App(server, tmp_path, checked)


@pytest.fixture
def app(tmp_path: Path) -> Iterator[App]:
    yield from _serve(tmp_path, _plan())


class Tab:
    """A browser tab signed in with the token: its cookie, the page's CSRF token."""

    def __init__(self, server: ReviewServer) -> None:
        self.server = server
        status, headers, _ = self.call("GET", f"/?token={server.review.token}")
        assert status == 303
        self.cookie = headers["set-cookie"].split(";")[0]
        self.csrf = ""

    def call(self, method: str, path: str, body: object = None) -> tuple[int, dict[str, str], str]:
        connection = http.client.HTTPConnection("127.0.0.1", self.server.port, timeout=10)
        headers = {"Host": f"127.0.0.1:{self.server.port}", "Content-Type": "application/json"}
        if hasattr(self, "cookie"):
            headers |= {"Cookie": self.cookie, "X-CSRF-Token": self.csrf, "X-Reviewer": "Ann"}
        data = None if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
        connection.request(method, path, body=data, headers=headers)
        answer = connection.getresponse()
        text = answer.read().decode()
        connection.close()
        return answer.status, {k.lower(): v for k, v in answer.getheaders()}, text

    def page(self, path: str = "/") -> tuple[str, str]:
        """The page's HTML and the review state's version it shows."""
        status, _, html = self.call("GET", path)
        assert status == 200, html
        found = re.search(r'name="csrf-token" content="([^"]+)"', html)
        etag = re.search(r'data-etag="([^"]+)"', html)
        assert found and etag
        self.csrf = found.group(1)
        return html, etag.group(1)


def _row(html: str, action_id: str) -> str:
    start = html.index(f'data-id="{action_id}"')
    return html[start : html.index("</li>\n", start)]


def _edit_box(row: str) -> str:
    found = re.search(r'<input name="value"[^>]*value="([^"]*)"', row)
    assert found, row
    return found.group(1)


def test_a_pending_edit_is_shown_as_apply_reads_it_and_the_value_checked_is_the_one_written(app: App) -> None:
    plan = app.server.review.plan
    phone, email = plan.actions[0], plan.actions[1]
    # in a spreadsheet: the e-mail edited and approved (no reviewer's name), the phone approved unedited
    path = app.folder / "plan.csv"
    table = csvio.read_file(path)
    rows = [[r.get(c) for c in table.header] for r in table]
    at = {r.get("action_id"): i for i, r in enumerate(table)}
    column = table.header.index
    assert rows[at[phone.action_id]][column("proposed_value")] == "'" + PHONE
    rows[at[email.action_id]][column("proposed_value")] = "e.fixed@x.com"
    rows[at[email.action_id]][column("approve")] = "yes"
    rows[at[email.action_id]][column("reviewed_by")] = ""
    rows[at[phone.action_id]][column("approve")] = "yes"
    rows[at[phone.action_id]][column("reviewed_by")] = "Bo"
    csvio.write_file(path, table.header, rows, neutralise_values=False)
    edits, _ = read_edits(path, plan, [phone.action_id, email.action_id])
    assert [(e.action_id, e.value) for e in edits] == [(email.action_id, "e.fixed@x.com")]

    tab = Tab(app.server)
    html, etag = tab.page()
    shown = _row(html, email.action_id)
    assert 'class="edited"' in shown and _edit_box(shown) == "e.fixed@x.com"
    unedited = _row(html, phone.action_id)
    assert 'class="edited"' not in unedited and _edit_box(unedited) == PHONE

    # a value typed with the quote a spreadsheet shows: checked as apply will read it back from the file
    status, _, answer = tab.call(
        "POST", "/api/edit", {"id": email.action_id, "value": "'=x@x.com", "etag": etag}
    )
    assert status == 200, answer
    assert app.checked[-1] == (email.action_id, "=x@x.com")
    edits, _ = read_edits(path, plan, [email.action_id])
    assert [e.value for e in edits] == ["=x@x.com"]


def test_a_pick_is_of_a_pickable_field_from_a_record_of_the_cluster_with_its_value(app: App) -> None:
    merge = app.server.review.plan.actions[-1]
    tab = Tab(app.server)
    _, etag = tab.page()

    def pick(column: str, source: str) -> tuple[int, str]:
        body = {"id": merge.action_id, "field": column, "from": source, "etag": etag}
        status, _, text = tab.call("POST", "/api/pick", body)
        return status, text

    for column, source, reason in (
        ("id", "003B", "the CRM keeps id itself"),
        ("linked_id", "003B", "the CRM keeps linked_id itself"),
        ("no_such_field", "003B", "Contact has no field 'no_such_field'"),
        ("email", "003Z", "'003Z' is not a record of this cluster"),
    ):
        status, text = pick(column, source)
        assert status == 422 and reason in text, (column, text)
    assert app.server.review.state.read().etag == etag  # nothing saved
    status, text = pick("email", "003C")
    assert status == 200, text
    picked = read_review_file(app.folder / "plan.csv", app.server.review.plan).picks[merge.action_id]
    assert picked == {"email": {"from": "003C", "value": "c@x.com", "before": "a@x.com"}}


def test_a_body_that_is_not_a_json_object_is_refused_422(app: App) -> None:
    tab = Tab(app.server)
    _, etag = tab.page()
    for body in (b"not json", b"[1, 2]", b'"text"'):
        for path in ("/api/decide", "/api/edit", "/api/pick", "/api/run"):
            status, _, text = tab.call("POST", path, body)
            assert status == 422 and "JSON object" in text, (path, body, status, text)
    assert app.server.review.state.read().etag == etag


def test_every_rule_can_be_filtered_on_however_many(tmp_path: Path) -> None:
    for app in _serve(tmp_path, _plan(rules=45)):
        html, _ = Tab(app.server).page()
        listed = set(re.findall(r'data-filter="rule" data-value="([^"]+)"', html))
        assert {f"rule.{i:02d}" for i in range(45)} <= listed


def test_the_app_s_apply_writes_to_a_production_profile_only_with_leave(tmp_path: Path) -> None:
    config = tmp_path / "crm-ops.toml"
    config.write_text(f'[profiles.live]\nproduction = true\nstate_dir = "{tmp_path / "state"}"\n')
    workspace = Workspace(load_profile(config, "live"))
    write_plan(_plan(), tmp_path / "plan")
    runner = Runner(workspace.review_run(tmp_path / "plan"))
    job = runner.start("apply", True, "Ann")
    deadline = time.monotonic() + 20
    while job.state == "running" and time.monotonic() < deadline:
        time.sleep(0.05)
    assert job.state == "refused" and any("add --allow-production to write" in p for p in job.problems), job
    assert not (tmp_path / "state" / "state.sqlite").exists()  # nothing pulled, opened or written


def _pulled(state: State, folder: Path, entity: str, rows: list[dict[str, object]]) -> None:
    path = folder / f"{entity}-{len(list(folder.glob('*.parquet')))}.parquet"
    example_frame(entity, rows, "salesforce").write_parquet(path)
    job = state.start_pull("salesforce", entity, "full", None, datetime(2026, 12, 7, 14, 0, tzinfo=UTC))
    state.finish_pull(job, Snapshot(path), len(rows), None)


def test_the_app_s_edit_check_judges_as_apply_on_the_snapshots_read_once_per_pull(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "crm-ops.toml"
    config.write_text(f'[profiles.sandbox]\nproduction = false\nstate_dir = "{tmp_path / "state"}"\n')
    profile = load_profile(config, "sandbox")
    state = State(profile.state_dir / "state.sqlite")
    _pulled(state, tmp_path, "Account", [{"id": "001A", "website": "acme.com"}])
    _pulled(state, tmp_path, "Contact", [{"id": "003E", "email": " e@acme.com", "account_id": "001A"}])
    plan = _plan()
    write_plan(plan, tmp_path / "plan")
    email = plan.actions[1]
    reads: list[int] = []
    real = state_snapshots

    def counted(*args: Any, **kwargs: Any) -> Any:
        reads.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(reviewapp, "state_snapshots", counted)
    review = reviewapp.open_review(profile, tmp_path / "plan", "Ann")
    rules = profile_rules(profile)[0]

    def at_apply(value: str) -> list[str]:
        found = real(state, profile)
        return check_edits([Edit(email.action_id, "w", email.proposed_value, value)], plan, rules,
                           found.frames, found.large)  # fmt: skip

    typed = ["e@globex.com", "e@acme.com", "e@globex.com"]  # keystrokes of one edit
    said = [review.check_edit(email.action_id, v) for v in typed]
    assert [bool(s) for s in said] == [bool(at_apply(v)) for v in typed] == [True, False, True]
    assert any("contact.email.account_domain" in p for p in said[0]), said[0]
    assert len(reads) == 1  # the snapshots read once for every keystroke
    # a pull since: the account's website moved, and the app judges on the new snapshot
    _pulled(state, tmp_path, "Account", [{"id": "001A", "website": "globex.com"}])
    assert review.check_edit(email.action_id, "e@globex.com") == at_apply("e@globex.com") == []
    assert len(reads) == 2
    state.close()


def test_a_run_s_progress_is_shown_from_a_copy_and_its_end_whole(tmp_path: Path) -> None:
    gate = threading.Event()

    def run(kind: str, write: bool, steps: Steps) -> dict[str, Any]:
        steps("apply", 1, 3)
        gate.wait(10)
        steps("apply", 2)
        return {"lines": ["3 done"]}

    runner = Runner(run)
    job = runner.start("apply", False, "Ann")
    deadline = time.monotonic() + 10
    while not job.steps and time.monotonic() < deadline:
        time.sleep(0.01)
    shown = job.as_dict()
    with pytest.raises(ConfigError, match="is running"):
        runner.start("undo", False, "Bo")  # one run at a time
    gate.set()
    while job.as_dict()["state"] == "running" and time.monotonic() < deadline:
        time.sleep(0.01)
    # what was shown is not changed under the page by the run's thread (nor json.dumps of it broken)
    assert shown["steps"] == {"apply": [1, 3]} and shown["state"] == "running"
    end = job.as_dict()
    assert (
        end["state"] == "done"
        and end["steps"] == {"apply": [3, 3]}
        and end["result"] == {"lines": ["3 done"]}
    )
    json.dumps(end)
