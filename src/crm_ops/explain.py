"""Why a pair matched: each compared field's contribution to its score, carried as one short text.

Every scored pair (``crm_ops.match.engine.score``) has an ``explain`` column: the prior and one term per
rule of the config, in the rules' order, ``; ``-separated::

    prior -13.29; email exact +9.81; phone differ -4.20; last_name fuzzy>=0.92 +6.10; first_name null +0.00

Each term is ``<field> <level> <signed weight>``. Under the Fellegi-Sunter model (``model =
"fellegi-sunter"``) the weights are match weights in bits (log2 of m/u, term-frequency adjusted) and
the prior is log2 of the prior odds: they add up to the pair's match weight, whose probability is its
score. Under the weighted model the prior is 0 and each term is the field's share of the score (its
weight times its similarity over the weights of the fields present; the level is the similarity), so
the terms add up to the score. A field missing on either side is level ``null`` with weight 0.

``decode`` reads the text back; ``compact`` is the one-line form plan.csv carries; ``waterfall`` the
running totals a report or ``plan show`` draws; ``outcome`` what the terms come to.

The text is matching's, and matching's readers are the plan (plan.csv, ``plan show``) and the report,
which sit beside matching in the layers and may not import it: so the codec sits below all three, and
``crm_ops.match.explain`` is this module under matching's name.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

SEPARATOR = "; "


@dataclass(frozen=True)
class Term:
    """One field's part in a pair's score: the field (its reason label), the comparison level it fell
    in (``exact``, ``fuzzy>=0.92``, ``differ``, ``null``, or a similarity under the weighted model), and
    the weight it added (negative: it spoke against the match)."""

    field: str
    level: str
    weight: float


def encode(prior: float, terms: Sequence[Term]) -> str:
    """The ``explain`` text of a prior and its terms (weights to two decimals)."""
    parts = [f"prior {prior:+.2f}"]
    parts += [f"{t.field} {t.level} {t.weight:+.2f}" for t in terms]
    return SEPARATOR.join(parts)


def decode(text: str | None) -> tuple[float, list[Term]]:
    """The prior and terms of an ``explain`` text (``0.0, []`` for an empty one). A malformed part is a
    ``ValueError`` naming it: the text is ours, written by ``encode``."""
    if not text:
        return 0.0, []
    prior = 0.0
    terms = []
    for part in text.split(SEPARATOR):
        words = part.split(" ")
        try:
            weight = float(words[-1])
        except ValueError:
            raise ValueError(f"explain: {part!r} does not end in a weight") from None
        if words[0] == "prior" and len(words) == 2:
            prior = weight
        elif len(words) >= 3:
            terms.append(Term(words[0], " ".join(words[1:-1]), weight))
        else:
            raise ValueError(f"explain: {part!r} is not '<field> <level> <weight>'")
    return prior, terms


def total(text: str | None) -> float:
    """The sum of the prior and every term: the pair's match weight (or its weighted score)."""
    prior, terms = decode(text)
    return prior + sum(t.weight for t in terms)


def probability(weight: float) -> float:
    """The match probability of a match weight in bits (prior included)."""
    if weight > 60:
        return 1.0
    if weight < -60:
        return 0.0
    odds = math.pow(2.0, weight)
    return odds / (1.0 + odds)


def compact(text: str | None) -> str:
    """The one-line form for plan.csv: each compared field's signed weight, strongest first, nulls left
    out (``email +9.8, last_name +6.1, phone -4.2``)."""
    _, terms = decode(text)
    shown = sorted((t for t in terms if t.level != "null"), key=lambda t: -abs(t.weight))
    return ", ".join(f"{t.field} {t.weight:+.1f}" for t in shown)


def waterfall(text: str | None) -> list[tuple[str, str, float, float]]:
    """The rows of a waterfall chart: ``(label, level, weight, running total)``, the prior first."""
    prior, terms = decode(text)
    rows = [("prior", "", prior, prior)]
    running = prior
    for t in terms:
        running += t.weight
        rows.append((t.field, t.level, t.weight, running))
    return rows


def outcome(text: str | None) -> tuple[str, float]:
    """What a pair's terms come to: ``("probability", p)`` under the Fellegi-Sunter model (the prior is
    not 0: the total is a match weight), ``("score", total)`` under the weighted model."""
    prior, _ = decode(text)
    weight = total(text)
    return ("probability", probability(weight)) if prior != 0 else ("score", weight)
