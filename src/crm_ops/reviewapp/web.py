"""The review app's web side (Starlette): pages rendered on the server (Jinja2, every value escaped),
our own CSS and JavaScript from the package, and the JSON calls that save decisions.

Every request passes the guard first (``crm_ops.reviewapp.guard``: token, session, CSRF, host, CSP).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import jinja2
import polars as pl
import structlog
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from crm_ops import csvio
from crm_ops.errors import ConfigError
from crm_ops.plan.edits import is_edited
from crm_ops.plan.format import Action, Plan
from crm_ops.plan.picks import NOT_PICKABLE, record_values
from crm_ops.plan.reviewstate import Change, ReviewState, StaleReviewError
from crm_ops.reviewapp import listing
from crm_ops.reviewapp.cluster import Snapshots, cluster_of, merges_of
from crm_ops.reviewapp.diff import char_diff, unusual_spaces, visible
from crm_ops.reviewapp.guard import Guard, Secrets
from crm_ops.reviewapp.running import Runner

log = structlog.get_logger()
HERE = Path(__file__).parent
# an edited value checked by the rules the proposal came from: (action id, value) -> refusals
EditCheck = Callable[[str, str | None], list[str]]


@dataclass
class Review:
    """What the app serves: the plan, its review state, the current snapshots (merges' records), the
    check of an edited value, the default reviewer's name and this run's secrets."""

    plan: Plan
    state: ReviewState
    records: Callable[[], Snapshots]  # the current snapshots, read again at each call
    check_edit: EditCheck
    reviewer: str
    runner: Runner = field(default_factory=lambda: Runner(None))  # apply and undo from the app
    secrets: Secrets = field(default_factory=Secrets)  # this run's token, session and CSRF token
    _actions: pl.DataFrame | None = None
    _joined: tuple[str, pl.DataFrame] | None = None
    _by_id: dict[str, Action] | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)  # the app's threads share it

    @property
    def token(self) -> str:
        """The token the printed address carries."""
        return self.secrets.token

    @property
    def session(self) -> str:
        """The session cookie's value the token is exchanged for."""
        return self.secrets.session

    @property
    def csrf(self) -> str:
        """The CSRF token each POST carries."""
        return self.secrets.csrf

    def action(self, action_id: str) -> Action:
        """The plan's action of that id."""
        with self._lock:
            if self._by_id is None:
                self._by_id = {a.action_id: a for a in self.plan.actions}
            return self._by_id[action_id]

    def frame(self) -> tuple[str, pl.DataFrame]:
        """The actions with their review state, and the state's version (joined again when it changed)."""
        held = self.state.read()
        with self._lock:
            if self._actions is None:
                self._actions = listing.plan_frame(self.plan)
            if self._joined is None or self._joined[0] != held.etag:
                self._joined = (held.etag, listing.joined(self._actions, held))
            return self._joined


def build_app(review: Review) -> Starlette:
    """The Starlette app serving ``review``."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(HERE / "templates"), autoescape=True, undefined=jinja2.StrictUndefined
    )
    env.globals["visible"] = visible
    env.globals["unusual_spaces"] = unusual_spaces

    def page(name: str, **values: Any) -> HTMLResponse:
        body = env.get_template(name).render(csrf=review.csrf, reviewer=review.reviewer, **values)
        return HTMLResponse(body)

    def actions(request: Request) -> Response:
        etag, frame = review.frame()
        filters = {c: request.query_params.get(c, "") for c in listing.FILTERS}
        query = request.query_params.get("q", "")
        try:
            number = int(request.query_params.get("page", "1"))
        except ValueError:
            number = 1
        shown = listing.page_of(frame, filters, number, query)
        for row in shown.rows:
            row["diff"] = char_diff(_text(row["seen_value"]), _text(row["proposed_value"]))
            # an edit as apply reads it (``plan.edits.read_edits``), shown and offered as it will be written
            cell = _text(row.get("cell_value"))
            action = review.action(str(row["action_id"]))
            edited = row["kind"] == "update" and cell is not None and is_edited(action, cell)
            row["edited"] = edited
            row["edit_value"] = (
                csvio.unneutralise(cell) if edited and cell is not None else (row["proposed_value"] or "")
            )

        def link(**changes: Any) -> str:
            values = {**filters, "q": query, "page": shown.page, **changes}
            return "?" + urlencode({k: v for k, v in values.items() if v not in ("", None)})

        return page("actions.html", page=shown, filters=filters, query=query, etag=etag, link=link,
                    plan=review.plan.header)  # fmt: skip

    def merge(request: Request) -> Response:
        action_id = request.path_params["action_id"]
        merges = merges_of(review.plan, action_id)
        if not merges:
            missing = page("error.html", message=f"{action_id} is not a merge of this plan")
            missing.status_code = 404
            return missing
        held = review.state.read()
        picks = {a.action_id: held.picks.get(a.action_id, {}) for a in merges}
        reviewers = {k: v[0] for k, v in held.reviewers.items()}
        cluster = cluster_of(review.records(), merges, picks, reviewers)
        answers = {a.action_id: held.answers.get(a.action_id, "") for a in merges}
        seen = {a.action_id: held.row_version(a.action_id) for a in merges}
        return page("merge.html", cluster=cluster, answers=answers, etag=held.etag, seen=json.dumps(seen),
                    plan=review.plan.header)  # fmt: skip

    def decide(request: Request, body: dict[str, Any]) -> Response:
        answer = str(body.get("answer", ""))
        if body.get("filters") is not None:
            _, frame = review.frame()
            filters = {str(k): str(v) for k, v in dict(body["filters"]).items()}
            if not any(filters.get(c) for c in listing.FILTERS):
                raise ConfigError("a decision on many rows names the rule (or other filter) it covers")
            ids = listing.matching_ids(frame, filters, str(body.get("q", "")))
        else:
            ids = [str(x) for x in body.get("ids") or []]
        if not ids:
            raise ConfigError("no actions chosen")
        held = review.state.change(
            {i: Change(approve=answer) for i in ids},
            reviewer=_reviewer(request, review),
            etag=str(body.get("etag", "")),
            seen=body.get("seen"),
        )
        log.info("review.decided", count=len(ids), answer=answer, reviewer=_reviewer(request, review))
        return JSONResponse({"etag": held.etag, "changed": len(ids)})

    def edit(request: Request, body: dict[str, Any]) -> Response:
        action_id = str(body.get("id", ""))
        value = body.get("value")
        # the value checked is the one apply will read back from the file (written neutralised)
        value = None if value is None else csvio.unneutralise(csvio.neutralise(str(value)))
        refusals = review.check_edit(action_id, value or None)
        if refusals or body.get("check_only"):
            return JSONResponse({"problems": refusals}, status_code=422 if refusals else 200)
        held = review.state.change(
            {action_id: Change(approve="yes", proposed_value=value or "")},
            reviewer=_reviewer(request, review),
            etag=str(body.get("etag", "")),
            seen=body.get("seen"),
        )
        return JSONResponse({"etag": held.etag, "changed": 1})

    def pick(request: Request, body: dict[str, Any]) -> Response:
        merges = merges_of(review.plan, str(body.get("id", "")))
        if not merges:
            raise ConfigError(f"{body.get('id')!r} is not a merge of this plan")
        column, source = str(body.get("field", "")), str(body.get("from", ""))
        if column in NOT_PICKABLE:
            raise ConfigError(f"the CRM keeps {column} itself; it cannot be picked")
        held = review.state.read()
        cluster = cluster_of(review.records(), merges, {}, {})
        if source not in cluster.ids:
            raise ConfigError(f"{source!r} is not a record of this cluster ({', '.join(cluster.ids)})")
        values = _raw_values(
            review.records(), cluster.system, cluster.entity, [source, cluster.survivor], column
        )
        changes = {}
        for a in merges:
            mine = dict(held.picks.get(a.action_id, {}))
            mine[column] = {
                "from": source,
                "value": values.get(source),
                "before": values.get(cluster.survivor),
            }
            changes[a.action_id] = Change(picks=mine)
        saved = review.state.change(
            changes,
            reviewer=_reviewer(request, review),
            etag=str(body.get("etag", "")),
            seen=body.get("seen"),
        )
        return JSONResponse({"etag": saved.etag, "changed": len(changes)})

    def run_page(request: Request) -> Response:
        job = review.runner.job
        return page("run.html", job=job.as_dict() if job else None, can_run=review.runner.run is not None,
                    plan=review.plan.header)  # fmt: skip

    def run_status(request: Request) -> Response:
        job = review.runner.job
        return JSONResponse(job.as_dict() if job else {"state": "none"})

    def run_start(request: Request, body: dict[str, Any]) -> Response:
        job = review.runner.start(
            str(body.get("kind", "")), bool(body.get("write")), _reviewer(request, review)
        )
        return JSONResponse(job.as_dict(), status_code=202)

    routes = [
        Route("/", actions),
        Route("/run", run_page),
        Route("/api/run", run_status),
        Route("/api/run", posted(run_start), methods=["POST"]),
        Route("/merge/{action_id}", merge),
        Route("/api/decide", posted(decide), methods=["POST"]),
        Route("/api/edit", posted(edit), methods=["POST"]),
        Route("/api/pick", posted(pick), methods=["POST"]),
        Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
    ]
    app = Starlette(routes=routes, exception_handlers={ConfigError: _refused, StaleReviewError: _stale})
    app.add_middleware(Guard, secrets=review.secrets)
    return app


Posted = Callable[[Request, dict[str, Any]], Response]


def posted(work: Posted) -> Callable[[Request], Awaitable[Response]]:
    """A POST handler: its body read (a JSON object, else 422), then ``work`` run in a worker thread, as
    Starlette runs a plain ``def`` handler, so its file locks, rewrites and snapshot reads never hold up
    the event loop."""

    async def handler(request: Request) -> Response:
        try:
            body = json.loads(await request.body())
        except ValueError as exc:
            raise ConfigError(f"the request's body is not JSON ({exc}): a JSON object was expected") from exc
        if not isinstance(body, dict):
            raise ConfigError(
                f"the request's body is a JSON {type(body).__name__}: a JSON object was expected"
            )
        return await run_in_threadpool(work, request, body)

    return handler


def _text(value: object) -> str | None:
    return None if value is None else str(value)


def _reviewer(request: Request, review: Review) -> str:
    return request.headers.get("x-reviewer", "").strip()[:100] or review.reviewer


def _raw_values(state: Snapshots, system: str, entity: str, ids: list[str], column: str) -> dict[str, Any]:
    large = {s: {e: path} for (s, e), path in state.items() if (s, e) == (system, entity)}
    try:
        return record_values(system, entity, ids, column, {}, large)
    except ValueError as exc:
        raise ConfigError(str(exc)) from exc


async def _refused(request: Request, exc: Exception) -> Response:
    problems = exc.problems if isinstance(exc, ConfigError) else [str(exc)]
    return JSONResponse({"problems": problems}, status_code=422)


async def _stale(request: Request, exc: Exception) -> Response:
    return JSONResponse({"problems": [str(exc)], "stale": True}, status_code=409)
