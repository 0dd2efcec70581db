"""The review app's web side (Starlette): pages rendered on the server (Jinja2, every value escaped),
our own CSS and JavaScript from the package, and the JSON calls that save decisions.

Every request passes the guard first (``crm_ops.reviewapp.guard``: token, session, CSRF, host, CSP).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import jinja2
import polars as pl
import structlog
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from crm_ops.errors import ConfigError
from crm_ops.plan.format import Plan
from crm_ops.plan.journaled import jsonable
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

    def frame(self) -> tuple[str, pl.DataFrame]:
        """The actions with their review state, and the state's version (joined again when it changed)."""
        held = self.state.read()
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

    async def actions(request: Request) -> Response:
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
            edited = row.get("cell_value")
            row["edited"] = (
                row["kind"] == "update" and edited is not None and edited != (row["proposed_value"] or "")
            ) and not row["by_default"]

        def link(**changes: Any) -> str:
            values = {**filters, "q": query, "page": shown.page, **changes}
            return "?" + urlencode({k: v for k, v in values.items() if v not in ("", None)})

        return page("actions.html", page=shown, filters=filters, query=query, etag=etag, link=link,
                    plan=review.plan.header)  # fmt: skip

    async def merge(request: Request) -> Response:
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

    async def decide(request: Request) -> Response:
        body = await request.json()
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

    async def edit(request: Request) -> Response:
        body = await request.json()
        action_id = str(body.get("id", ""))
        value = body.get("value")
        value = None if value is None else str(value)
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

    async def pick(request: Request) -> Response:
        body = await request.json()
        merges = merges_of(review.plan, str(body.get("id", "")))
        if not merges:
            raise ConfigError(f"{body.get('id')!r} is not a merge of this plan")
        column, source = str(body.get("field", "")), str(body.get("from", ""))
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

    async def run_page(request: Request) -> Response:
        job = review.runner.job
        return page("run.html", job=job.as_dict() if job else None, can_run=review.runner.run is not None,
                    plan=review.plan.header)  # fmt: skip

    async def run_status(request: Request) -> Response:
        job = review.runner.job
        return JSONResponse(job.as_dict() if job else {"state": "none"})

    async def run_start(request: Request) -> Response:
        body = await request.json()
        job = review.runner.start(
            str(body.get("kind", "")), bool(body.get("write")), _reviewer(request, review)
        )
        return JSONResponse(job.as_dict(), status_code=202)

    routes = [
        Route("/", actions),
        Route("/run", run_page),
        Route("/api/run", run_status),
        Route("/api/run", run_start, methods=["POST"]),
        Route("/merge/{action_id}", merge),
        Route("/api/decide", decide, methods=["POST"]),
        Route("/api/edit", edit, methods=["POST"]),
        Route("/api/pick", pick, methods=["POST"]),
        Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
    ]
    app = Starlette(routes=routes, exception_handlers={ConfigError: _refused, StaleReviewError: _stale})
    app.add_middleware(Guard, secrets=review.secrets)
    return app


def _text(value: object) -> str | None:
    return None if value is None else str(value)


def _reviewer(request: Request, review: Review) -> str:
    return request.headers.get("x-reviewer", "").strip()[:100] or review.reviewer


def _raw_values(state: Snapshots, system: str, entity: str, ids: list[str], column: str) -> dict[str, Any]:
    current = state.get((system, entity))
    if current is None:
        return {}
    frame = pl.scan_parquet(current).filter(pl.col("id").is_in(ids)).collect()
    if column not in frame.columns:
        raise ConfigError(f"{entity} has no field {column!r}")
    return {str(r["id"]): jsonable(r[column]) for r in frame.to_dicts()}


async def _refused(request: Request, exc: Exception) -> Response:
    problems = exc.problems if isinstance(exc, ConfigError) else [str(exc)]
    return JSONResponse({"problems": problems}, status_code=422)


async def _stale(request: Request, exc: Exception) -> Response:
    return JSONResponse({"problems": [str(exc)], "stale": True}, status_code=409)
