"""The review app: ``crm-ops review PLAN`` serves a plan's review in the browser (``crm_ops.reviewapp.web``),
saving each decision into the plan's review state (``crm_ops.plan.reviewstate``: its plan.csv, the
review file's contract), so the app's apply (``crm_ops.reviewapp.running``) and ``crm-ops apply PLAN
--review PLAN/plan.csv`` apply what was decided.

``ReviewServer`` runs it on 127.0.0.1 (a port of the system's choosing unless given), in a thread, and
gives the address with this run's token; ``serve`` is what the command does with it.
"""

from __future__ import annotations

import socket
import threading
import time
import webbrowser
from collections.abc import Callable
from pathlib import Path
from types import TracebackType

import structlog
import uvicorn

from crm_ops.check import profile_rules
from crm_ops.config import Profile
from crm_ops.engines import state_snapshots
from crm_ops.errors import ConfigError
from crm_ops.layered import Snapshot
from crm_ops.plan import read_plan
from crm_ops.plan.edits import Edit, check_edits
from crm_ops.plan.reviewfile import check_profile
from crm_ops.plan.reviewstate import ReviewState
from crm_ops.reviewapp.cluster import Snapshots
from crm_ops.reviewapp.running import Run, Runner
from crm_ops.reviewapp.web import Review, build_app
from crm_ops.snapshots import Snapshots as Pulled
from crm_ops.state import Current, State

log = structlog.get_logger()
HOST = "127.0.0.1"


def open_review(profile: Profile, plan_path: Path, reviewer: str, run: Run | None = None) -> Review:
    """The review of the plan at ``plan_path`` (its folder or plan.jsonl) for ``profile``: the plan held
    to the profile, its review state read (its problems refused now), edits checked by the profile's
    rules on the records as pulled; ``run``: apply and undo, started from the app
    (``crm_ops.reviewapp.running``)."""
    path = plan_path / "plan.jsonl" if plan_path.is_dir() else plan_path
    plan = read_plan(path)
    problems = check_profile(plan, path, profile.name)
    if problems:
        raise ConfigError(problems)
    state = ReviewState(path.parent, plan)
    state.read()
    state_file = profile.state_dir / "state.sqlite"
    if not state_file.exists():
        raise ConfigError(f"{profile.state_dir}: nothing pulled yet; run `crm-ops pull` first")
    rules = profile_rules(profile)[0]
    actions = {a.action_id: a for a in plan.actions}

    pulled = PulledSnapshots(profile, state_file)

    def snapshots() -> Snapshots:
        return {key: path for key, path, _ in pulled.current()}

    def check_edit(action_id: str, value: str | None) -> list[str]:
        action = actions.get(action_id)
        if action is None:
            return [f"{action_id!r} is not an action of plan {plan.header.plan_id}"]
        if action.kind != "update":
            return [f"a {action.kind}'s proposed value cannot be edited"]
        # judged as apply judges it (``crm_ops.api.applying``): on the same snapshots, read once per pull
        found = pulled.snapshots()
        where = f"{action.entity}.{action.field} of {action.record_id}"
        edit = Edit(action_id, where, action.proposed_value, value)
        return check_edits([edit], plan, rules, found.frames, found.large)

    return Review(plan, state, snapshots, check_edit, reviewer, Runner(run))


class PulledSnapshots:
    """The profile's current snapshots as apply reads them (``engines.state_snapshots``), read again only
    when a pull made new ones; safe to share between the app's threads."""

    def __init__(self, profile: Profile, state_file: Path) -> None:
        self.profile = profile
        self.state_file = state_file
        self._lock = threading.Lock()
        self._held: tuple[tuple[Current, ...], Pulled] | None = None

    def current(self) -> list[tuple[tuple[str, str], Snapshot, Current]]:
        """Each entity's current snapshot: ((system, entity), its file, its row in the state)."""
        records = State(self.state_file)  # one connection per call: the app answers from its threads
        try:
            return [((c.system, c.entity), c.snapshot, c) for c in records.all_current()]
        finally:
            records.close()

    def snapshots(self) -> Pulled:
        """The snapshots apply checks edits on, held while no pull made new ones."""
        with self._lock:
            version = tuple(c for _, _, c in self.current())
            if self._held is None or self._held[0] != version:
                records = State(self.state_file)
                try:
                    self._held = (version, state_snapshots(records, self.profile))
                finally:
                    records.close()
            return self._held[1]


class ReviewServer:
    """The app on 127.0.0.1 in a thread (``with ReviewServer(review) as server: server.url``)."""

    def __init__(self, review: Review, port: int = 0) -> None:
        self.review = review
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((HOST, port))
        self.port = int(self.sock.getsockname()[1])
        review.secrets.hosts = (HOST, "localhost")
        config = uvicorn.Config(build_app(review), log_level="warning", access_log=False, lifespan="off")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)

    @property
    def url(self) -> str:
        """The address to open: this run's token in it."""
        return f"http://{HOST}:{self.port}/?token={self.review.token}"

    def __enter__(self) -> ReviewServer:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the review app did not start")
            time.sleep(0.02)
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.server.should_exit = True
        self.thread.join(10)
        self.sock.close()


def serve(
    profile: Profile,
    plan_path: Path,
    *,
    reviewer: str,
    port: int = 0,
    browser: bool = True,
    announce: Callable[[str], None] = lambda url: None,
    run: Run | None = None,
) -> None:
    """Serve the review of ``plan_path`` until interrupted: ``announce`` is given the address (with this
    run's token), which is opened in the browser when there is one and ``browser``; ``run``: apply and
    undo from the app."""
    review = open_review(profile, plan_path, reviewer, run)
    review.frame()  # the actions and their review state read and joined before the address is given
    with ReviewServer(review, port) as server:
        announce(server.url)
        log.info("review.serving", plan_id=review.plan.header.plan_id, port=server.port)
        if browser:
            webbrowser.open(server.url)
        try:
            while server.thread.is_alive():
                server.thread.join(0.5)
        except KeyboardInterrupt:
            pass
