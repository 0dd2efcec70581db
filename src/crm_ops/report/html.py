"""The report's HTML pieces: escaping, the stylesheet, tables that wrap and scroll inside their box,
links. No scripts and no network assets: a report is one file that opens anywhere, offline.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Sequence
from typing import Any

CSS = """
*{box-sizing:border-box}
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,sans-serif;margin:0 auto;padding:1.5rem 2rem;
color:#1f2933;max-width:1180px;background:#fff}
h1{font-size:1.5rem;margin:.2rem 0}h2{font-size:1.15rem;margin-top:2rem;border-bottom:1px solid #d9e2ec;
padding-bottom:.2rem}h3{font-size:1rem;margin:1.2rem 0 .3rem}
p.lead{color:#52606d;margin-top:0}.muted{color:#7b8794}
.box{overflow-x:auto;max-width:100%;border:1px solid #e4e7eb;border-radius:4px;margin:.5rem 0}
table{border-collapse:collapse;width:100%}th,td{padding:.3rem .5rem;text-align:left;
border-bottom:1px solid #eef2f6;vertical-align:top;overflow-wrap:break-word}
th{background:#f5f7fa;font-weight:600;white-space:nowrap}td.n,th.n{text-align:right;white-space:nowrap}
.v{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:12.5px;overflow-wrap:anywhere;
word-break:break-all;display:block;min-width:7.5rem}td a{overflow-wrap:anywhere}
.good{color:#2f855a}.warn{color:#b7791f}.bad{color:#c53030}code{background:#f5f7fa;padding:0 .2rem}
.cards{display:flex;flex-wrap:wrap;gap:.75rem;margin:.75rem 0}.card{border:1px solid #e4e7eb;
border-radius:6px;padding:.6rem .9rem;min-width:11rem;flex:1 1 11rem}.card b{display:block;font-size:1.4rem}
.legend{display:flex;flex-wrap:wrap;gap:.4rem 1.2rem;list-style:none;padding:0;margin:.3rem 0 0}
.legend li{display:flex;align-items:center;gap:.4rem}.sw{display:inline-block;width:.9rem;height:.9rem;
border-radius:2px}svg.chart{width:100%;height:auto;max-width:100%}
.badge{display:inline-block;padding:0 .4rem;border-radius:3px;font-size:12px;background:#eef2f6}
.badge.applied{background:#c6f6d5}.badge.refused{background:#fed7d7}.badge.review{background:#fefcbf}
.bar{display:inline-block;height:.7rem;max-width:8rem;vertical-align:middle;border-radius:2px}
.bar.pos{background:#68d391}.bar.neg{background:#fc8181}
"""


def e(value: Any) -> str:
    """HTML-escape anything (CRM values are untrusted)."""
    return html.escape("" if value is None else str(value), quote=True)


def link(url: Any, text: Any) -> str:
    """A link to a CRM record: only http(s) addresses become links; anything else is shown as text."""
    if isinstance(url, str) and url.startswith(("https://", "http://")):
        return f'<a href="{e(url)}" rel="noopener noreferrer">{e(text)}</a>'
    return e(text)


def table(head: Sequence[str], rows: Iterable[Sequence[str]], numeric: Sequence[int] = ()) -> str:
    """A table in a box that scrolls sideways on its own (the page never does). Cells are HTML already
    (escape CRM values with ``e``); ``numeric`` columns are right-aligned."""
    nums = set(numeric)
    out = ['<div class="box"><table><thead><tr>']
    out += [f"<th{' class=n' if i in nums else ''}>{h}</th>" for i, h in enumerate(head)]
    out.append("</tr></thead><tbody>")
    for row in rows:
        out.append(
            "<tr>" + "".join(f"<td{' class=n' if i in nums else ''}>{c}</td>" for i, c in enumerate(row))
        )
        out.append("</tr>")
    out.append("</tbody></table></div>")
    return "".join(out)


def page(title: str, body: Sequence[str]) -> str:
    """A whole HTML document."""
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{e(title)}</title><style>{CSS}</style></head><body>" + "".join(body) + "</body></html>\n"
    )


def pct(value: float) -> str:
    """A score as a coloured percentage."""
    css = "good" if value >= 98 else "warn" if value >= 90 else "bad"
    return f'<span class="{css}">{value:.2f}%</span>'
