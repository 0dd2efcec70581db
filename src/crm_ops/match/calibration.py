"""What people decided about proposed pairs, held against the model that proposed them (issue 28).

A merge or conversion a person approved (``yes``) or rejected (``no``, ``not_duplicate``) in a review
file is a verdict on its pair (``State.remember_verdicts``, at apply): the pair's ``explain`` text as the
plan carried it, so the comparison levels and the match probability the model gave it are kept.

- ``calibration``: per CRM and entity, the decided pairs scored by Fellegi-Sunter, the share people
  confirmed (observed precision, with its 95% Wilson interval) against the mean probability the model gave
  them (the precision it expected). When the model expected more than the interval's top, with at least
  ``MIN_DECIDED`` decisions, it is over-confident on this org's records: matching says so as a notice
  (the run's summary, report and webhook), never only in a log line.
- ``confirmed_levels``: the comparison levels of the pairs people confirmed, for a rule set; with the
  profile's ``learn_from_decisions`` matching gives them to the model (``MatchConfig.confirmed``), which
  learns ``m`` from them beside expectation-maximisation (``crm_ops.match.fs.train``). Opt-in: the pairs
  people saw were the ones the model proposed, so they lean towards agreement, and a handful should not
  move what a million pairs taught.

A verdict whose text names fields or levels the rule set no longer has (its fields changed since) is
left out of the levels; the calibration reads only the probability.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from crm_ops.explain import decode, probability, total
from crm_ops.match import fs
from crm_ops.match.config import MatchConfig
from crm_ops.match.engine import reason_labels

MIN_DECIDED = 20  # decisions before a model's expected precision is held to them
Z = 1.96  # the 95% interval's


@dataclass(frozen=True)
class Calibration:
    """One CRM's entity: the pairs people decided (``decided``), those they confirmed, the precision the
    model expected of them (mean probability) and the 95% interval of the precision observed."""

    system: str
    entity: str
    decided: int
    confirmed: int
    expected: float
    low: float
    high: float

    @property
    def observed(self) -> float:
        """The share of decided pairs people confirmed."""
        return self.confirmed / self.decided if self.decided else 0.0

    @property
    def over_confident(self) -> bool:
        """Enough decisions, and the model expected more than the observed interval's top."""
        return self.decided >= MIN_DECIDED and self.expected > self.high

    def notice(self) -> str:
        """The line a run's summary, report and webhook carry when the model is over-confident."""
        return (
            f"{self.system}.{self.entity}: people confirmed {self.confirmed:,} of {self.decided:,} "
            f"proposed pairs they decided (precision {self.observed:.3f}, 95% interval "
            f"{self.low:.3f}-{self.high:.3f}) where the model expected {self.expected:.4f}: raise its "
            "threshold, or set learn_from_decisions, and review its merges before approving them by default"
        )

    def stats(self) -> dict[str, Any]:
        """The counts for a run's statistics, under ``<system>.<entity>.``."""
        prefix = f"{self.system}.{self.entity}"
        return {
            f"{prefix}.decided_pairs": self.decided,
            f"{prefix}.confirmed_pairs": self.confirmed,
            f"{prefix}.expected_precision": round(self.expected, 4),
            f"{prefix}.observed_precision": round(self.observed, 4),
        }


def wilson(hits: int, n: int) -> tuple[float, float]:
    """The 95% Wilson score interval of a share ``hits / n``."""
    if n == 0:
        return 0.0, 1.0
    share = hits / n
    centre = (share + Z * Z / (2 * n)) / (1 + Z * Z / n)
    half = Z * math.sqrt(share * (1 - share) / n + Z * Z / (4 * n * n)) / (1 + Z * Z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def calibration(verdicts: Sequence[Mapping[str, Any]]) -> list[Calibration]:
    """Per (system, entity), people's verdicts on the pairs a Fellegi-Sunter model scored (their
    ``explain`` has a prior), against the probabilities it gave them; sorted by system and entity."""
    groups: dict[tuple[str, str], list[tuple[bool, float]]] = {}
    for v in verdicts:
        text = v.get("explain") or None
        if not text or decode(text)[0] == 0:  # unexplained, or the weighted model: no probability
            continue
        key = (str(v["system"]), str(v["entity"]))
        groups.setdefault(key, []).append((v["verdict"] == "duplicate", probability(total(text))))
    out = []
    for (system, entity), rows in sorted(groups.items()):
        confirmed = sum(ok for ok, _ in rows)
        low, high = wilson(confirmed, len(rows))
        expected = sum(p for _, p in rows) / len(rows)
        out.append(Calibration(system, entity, len(rows), confirmed, expected, low, high))
    return out


def confirmed_levels(
    verdicts: Sequence[Mapping[str, Any]], system: str, entity: str, config: MatchConfig
) -> tuple[tuple[int, ...], ...]:
    """Each pair of ``system``'s ``entity`` people confirmed, as its level per rule of ``config``
    (``fs.NULL`` where a side lacked the value); pairs whose text does not fit the rules are left out."""
    labels = reason_labels(config)
    names = [fs.level_names(rule) for rule in config.fields]
    out = []
    for v in verdicts:
        if (v["system"], v["entity"], v["verdict"]) != (system, entity, "duplicate") or not v.get("explain"):
            continue
        levels = {t.field: t.level for t in decode(str(v["explain"]))[1]}
        if set(levels) != set(labels):
            continue
        row = [
            fs.NULL if levels[label] == "null" else _index(names[i], levels[label])
            for i, label in enumerate(labels)
        ]
        if None not in row:
            out.append(tuple(int(x) for x in row if x is not None))
    return tuple(out)


def _index(names: tuple[str, ...], level: str) -> int | None:
    return names.index(level) if level in names else None


def with_decisions(
    config: MatchConfig, verdicts: Sequence[Mapping[str, Any]], system: str, entity: str
) -> MatchConfig:
    """``config`` carrying the levels of the pairs people confirmed (Fellegi-Sunter only; as it is
    when there are none)."""
    if config.model != "fellegi-sunter":
        return config
    confirmed = confirmed_levels(verdicts, system, entity, config)
    return dataclasses.replace(config, confirmed=confirmed) if confirmed else config
