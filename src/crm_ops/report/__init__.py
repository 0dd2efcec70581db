"""The run report: self-contained HTML (no scripts, no network assets), every CRM value escaped.

- ``scores``: the score per object and the counts behind it (``DEFINITION`` says what it is);
- ``run``: a run's page (``RunData`` in, HTML out);
- ``index``: runs/index.html, the history with a link to each run;
- ``trend``: the score chart; ``html``: escaping, tables, the stylesheet.
"""

from crm_ops.report.html import e
from crm_ops.report.index import render_index
from crm_ops.report.run import RunData, Threshold, render_run
from crm_ops.report.scores import DEFINITION, Score, score_counts, scores
from crm_ops.triage import changes  # new and resolved findings (kept here for its callers)

__all__ = [
    "DEFINITION",
    "RunData",
    "Score",
    "Threshold",
    "changes",
    "e",
    "render_index",
    "render_run",
    "score_counts",
    "scores",
]
