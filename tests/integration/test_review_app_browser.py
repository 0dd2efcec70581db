"""The review app in a real browser (Debian's chromium through chromium-driver and selenium), on a
sandbox plan: ``crm-ops review`` serves it, a person approves an action, picks a merge survivor's field
from the duplicate, has an edit refused by the field's rule and another accepted, reloads (the decisions
held), then the app's apply writes exactly what was decided, journaled with the reviewer's name, and its undo
puts it back; every page fits 1280 and 800 px wide."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement

from crm_ops.plan import read_plan
from crm_ops.plan.edits import read_edits
from crm_ops.plan.format import Action, Plan
from crm_ops.plan.reviewfile import read_review_file
from crm_ops.sandbox.server import Sandbox
from crm_ops.state import State
from tests.pulling import fast_sandbox, profile_for

pytestmark = pytest.mark.integration
CRM_OPS = str(Path(sys.executable).parent / "crm-ops")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
needs_browser = pytest.mark.skipif(
    CHROMIUM is None or CHROMEDRIVER is None,
    reason="chromium or chromium-driver is not installed (make chromium installs both with apt where it can)",
)
REVIEWER = "Ann Lée"
SHOTS = os.environ.get("CRM_OPS_SCREENSHOTS")  # a folder to keep the screenshots in, to look at


@pytest.fixture(scope="module")
def box() -> Iterator[Sandbox]:
    with fast_sandbox(600, 37) as sb:
        yield sb


def _cli(box: Sandbox, *args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [CRM_OPS, *map(str, args)], capture_output=True, text=True, env={**os.environ, **box.env}, check=False
    )


@contextmanager
def _serving(box: Sandbox, config: Path, folder: Path) -> Iterator[str]:
    """``crm-ops review`` running on the plan: the address it prints."""
    served = subprocess.Popen(
        [CRM_OPS, "review", str(folder), "-c", str(config), "--no-browser", "--reviewer", "cron"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **box.env},
    )
    try:
        assert served.stdout is not None
        line = served.stdout.readline()
        assert line.startswith("review: http://127.0.0.1:"), served.stderr.read() if served.stderr else line
        yield line.split()[1]
    finally:
        served.terminate()
        served.communicate(timeout=10)


@contextmanager
def _browser() -> Iterator[WebDriver]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--hide-scrollbars",
        "--window-size=1280,900",
    ):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    driver.implicitly_wait(0)
    try:
        yield driver
    finally:
        driver.quit()


def _snapshot(state_dir: Path, system: str, entity: str) -> pl.DataFrame:
    state = State(state_dir / "state.sqlite")
    try:
        current = state.current(system, entity)
        assert current is not None
        return current.snapshot.read()
    finally:
        state.close()


def _chosen(plan: Plan, contacts: pl.DataFrame) -> tuple[Action, Action, Action, Action]:
    """An update to approve, two e-mail fixes to edit (one badly), and a Salesforce contact merge whose
    duplicate holds another e-mail, the survivor's untouched by any other action approved by default."""
    updates = [a for a in plan.actions if a.kind == "update"]
    approve = next(a for a in updates if not a.approved and a.field != "email")
    emails = [
        a
        for a in updates
        if (a.system, a.entity, a.field) == ("salesforce", "Contact", "email")
        and "@" in (a.proposed_value or "")
    ]
    # undo puts the seen value back: one the CRM takes (an address without spaces: Salesforce refuses
    # " a@b.com ", so undoing a trim fails there, said in undo's report)
    address = re.compile(r"[^@\s,;]+@[^@\s,;]+\.[A-Za-z]{2,}")
    good = next(a for a in emails if address.fullmatch(a.seen_value or ""))
    bad = next(a for a in emails if a is not good)
    rows = {r["id"]: r for r in contacts.to_dicts()}
    touched = {(a.record_id, a.field) for a in plan.actions if a.approved}
    merge = next(
        a
        for a in plan.actions
        if a.kind == "merge"
        and a.system == "salesforce"
        and a.entity == "Contact"
        and rows[a.record_id]["email"]
        and rows[a.record_id]["email"] != rows[a.proposed_value or ""]["email"]
        and (a.proposed_value, "email") not in touched
        and a.record_id not in {good.record_id, bad.record_id}
        and a.proposed_value not in {good.record_id, bad.record_id}
    )
    return approve, good, bad, merge


def _wait(driver: WebDriver, condition: Callable[[WebDriver], Any], timeout: float = 15) -> Any:
    from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
    from selenium.webdriver.support.ui import WebDriverWait

    # the page is shown again after each saved decision: an element of the old page is stale, not wrong
    ignored = (NoSuchElementException, StaleElementReferenceException)
    return WebDriverWait(driver, timeout, ignored_exceptions=ignored).until(condition)


def _search(driver: WebDriver, text: str) -> None:
    from selenium.webdriver.common.by import By

    box = driver.find_element(By.CSS_SELECTOR, "form.search input[name=q]")
    box.clear()
    box.send_keys(text)
    box.submit()
    _wait(driver, lambda d: f"q={text}" in d.current_url)


def _row(driver: WebDriver, action_id: str) -> WebElement:
    from selenium.webdriver.common.by import By

    return driver.find_element(By.CSS_SELECTOR, f'li.row[data-id="{action_id}"]')


def _run(driver: WebDriver, button: str, ended: str, line: str) -> None:
    """Start a run from the apply page (accepting its confirmation) and wait for its end."""
    from selenium.webdriver.common.by import By

    driver.find_element(By.ID, button).click()
    if button != "dry-run":
        _wait(driver, lambda d: d.switch_to.alert).accept()
    state = "#job .job-state"
    label = ended.split(":", maxsplit=1)[0] + ":"  # this run's, not the one before it

    def over(d: WebDriver) -> bool:
        shown = d.find_element(By.CSS_SELECTOR, state)
        return shown.text.startswith(label) and shown.get_attribute("data-state") not in (None, "running")

    _wait(driver, over, 300)
    shown = driver.find_element(By.CSS_SELECTOR, "#job").text
    assert driver.find_element(By.CSS_SELECTOR, state).text.startswith(ended), shown
    assert line in shown


def _fits(driver: WebDriver, name: str, folder: Path) -> None:
    """At 1280 and 800 px: a screenshot, and no horizontal overflow."""
    for width in (1280, 800):
        driver.set_window_size(width, 900)
        scroll, client = driver.execute_script(
            "return [document.documentElement.scrollWidth, document.documentElement.clientWidth]"
        )
        shot = folder / f"{name}-{width}.png"
        driver.save_screenshot(str(shot))
        if SHOTS:
            shutil.copy(shot, Path(SHOTS) / shot.name)
        assert scroll <= client, f"{name} at {width} px: {scroll} px wide in a {client} px window"
        assert shot.stat().st_size > 10_000
    driver.set_window_size(1280, 900)


@needs_browser
def test_a_plan_reviewed_in_the_browser_is_applied_as_decided(box: Sandbox, tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    profile = profile_for(box, tmp_path)
    config = tmp_path / "crm-ops.toml"
    for args in (("pull",), ("check", "--fail-on", "never"), ("match",), ("plan", "-o", tmp_path / "plan")):
        done = _cli(box, *args, "-c", config)
        assert done.returncode == 0, done.stderr
    folder = tmp_path / "plan"
    plan = read_plan(folder / "plan.jsonl")
    contacts = _snapshot(profile.state_dir, "salesforce", "Contact")
    approve, good, bad, merge = _chosen(plan, contacts)
    duplicate_email = contacts.filter(pl.col("id") == merge.record_id)["email"][0]
    local, domain = (good.proposed_value or "").split("@")
    edited = f"{local}.edited@{domain}"

    with _serving(box, config, folder) as url, _browser() as driver:
        driver.get(url)
        assert "token=" not in driver.current_url
        name = driver.find_element(By.ID, "reviewer")
        name.clear()
        name.send_keys(REVIEWER, Keys.TAB)
        _fits(driver, "actions", tmp_path)

        # approve one action
        _search(driver, approve.record_id)
        _row(driver, approve.action_id).find_element(By.CSS_SELECTOR, "button.approve").click()
        _wait(
            driver,
            lambda d: _row(d, approve.action_id).find_element(By.CLASS_NAME, "state").text == "approved",
        )

        # an edit the field's rule refuses: said as it is typed, and refused when saved
        _search(driver, bad.record_id)
        form = _row(driver, bad.action_id).find_element(By.CSS_SELECTOR, "form.edit")
        field = form.find_element(By.NAME, "value")
        field.clear()
        field.send_keys("broken@@address")
        _wait(
            driver, lambda d: "fails rule person.email.valid" in form.find_element(By.TAG_NAME, "output").text
        )
        form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
        _wait(driver, lambda d: "fails rule person.email.valid" in d.find_element(By.ID, "banner").text)

        # an edit the rules pass: saved, approved, shown as edited
        _search(driver, good.record_id)
        form = _row(driver, good.action_id).find_element(By.CSS_SELECTOR, "form.edit")
        field = form.find_element(By.NAME, "value")
        field.clear()
        field.send_keys(edited)
        _wait(driver, lambda d: "passes" in form.find_element(By.TAG_NAME, "output").text)
        form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
        _wait(driver, lambda d: _row(d, good.action_id).find_elements(By.CSS_SELECTOR, ".edited"))

        # the merge side by side: the survivor takes the duplicate's e-mail, and the merge is approved
        _search(driver, merge.record_id)
        _row(driver, merge.action_id).find_element(By.LINK_TEXT, "side by side").click()
        pick = f'tr[data-field="email"] button.pick[data-from="{merge.record_id}"]'
        _wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, pick))
        driver.find_element(By.CSS_SELECTOR, pick).click()
        end = 'tr[data-field="email"] td.end .value'
        _wait(driver, lambda d: d.find_element(By.CSS_SELECTOR, end).text == duplicate_email)
        item = f'.merges li[data-id="{merge.action_id}"]'
        driver.find_element(By.CSS_SELECTOR, f"{item} button.approve").click()
        _wait(driver, lambda d: d.find_element(By.CSS_SELECTOR, f"{item} .state").text == "approved")
        _fits(driver, "merge", tmp_path)

        # reloaded, every decision is still there
        driver.refresh()
        assert driver.find_element(By.CSS_SELECTOR, end).text == duplicate_email
        assert (
            f"picked by {REVIEWER}"
            in driver.find_element(By.CSS_SELECTOR, 'tr[data-field="email"] td.end').text
        )
        driver.get(url.split("?")[0] + f"?q={approve.record_id}")
        row = _row(driver, approve.action_id)
        assert row.find_element(By.CLASS_NAME, "state").text == "approved"
        assert f"by {REVIEWER}" in row.find_element(By.CLASS_NAME, "by").text

        review = read_review_file(folder / "plan.csv", plan)
        assert read_edits(review.table, plan, [bad.action_id]) == ([], [])  # the refused edit saved nothing
        decided = {k for k, v in review.answers.items() if v == "yes"}
        assert {approve.action_id, good.action_id, merge.action_id} <= decided

        # apply from the app: a dry run, then the write (confirmed), each shown to its end
        driver.find_element(By.LINK_TEXT, "apply / undo").click()
        _run(driver, "dry-run", "apply (dry run): done", "apply (would)")
        _fits(driver, "run", tmp_path)
        _run(driver, "apply", "apply: done", "apply (did)")

    state = State(profile.state_dir / "state.sqlite")
    try:
        journal = state.journal(plan.header.plan_id)
    finally:
        state.close()
    assert set(journal) == decided  # what was applied is what was decided, nothing more
    for action_id in (approve.action_id, good.action_id, merge.action_id):
        assert journal[action_id]["reviewed_by"] == REVIEWER
        assert journal[action_id]["reviewed_at"]
    assert journal[good.action_id]["status"] == "done"
    assert journal[good.action_id]["after"] == edited
    assert journal[good.action_id]["edited_from"] == good.proposed_value
    assert journal[merge.action_id]["status"] == "done", journal[merge.action_id]
    assert _cli(box, "pull", "-c", config).returncode == 0
    after = _snapshot(profile.state_dir, "salesforce", "Contact")
    assert after.filter(pl.col("id") == good.record_id)["email"][0] == edited
    assert after.filter(pl.col("id") == merge.proposed_value)["email"][0] == duplicate_email
    merged = after.filter(pl.col("id") == merge.record_id)
    assert merged.is_empty() or merged["is_deleted"].all()  # in the recycle bin: pulled as deleted

    # undo from the app puts back what the plan wrote
    with _serving(box, config, folder) as url, _browser() as driver:
        driver.get(url.replace("/?", "/run?"))
        _run(driver, "undo", "undo: done", "undo (did)")
    assert _cli(box, "pull", "-c", config).returncode == 0
    undone = _snapshot(profile.state_dir, "salesforce", "Contact")
    assert undone.filter(pl.col("id") == good.record_id)["email"][0] == good.seen_value
    assert not undone.filter(pl.col("id") == merge.record_id)["is_deleted"].any()
