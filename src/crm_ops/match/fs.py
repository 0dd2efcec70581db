"""Fellegi-Sunter scoring: what each field's agreement tells about a pair, learned from the records.

A config with ``model = "fellegi-sunter"`` compares each field at one of its comparison levels
(``level_names``: ``exact``, an alias or sound-alike, fuzzy bands, ``differ``; ``null`` when either side
lacks the value). Each level ``k`` of a field has two probabilities: ``m``, that a true match falls in
it, and ``u``, that two records of different people do. Its match weight is ``log2(m / u)`` bits; a
pair's match weight is the prior's (``log2`` of the odds that a compared pair matches) plus its fields',
and its score is the probability that weight stands for (``explain.probability``).

How they are learned (``train``), the way splink and recordlinkage do it:

- ``u`` from random pairs of records (almost all of them different people): the share of each level;
- ``m`` by expectation-maximisation over the pairs blocking found, ``u`` held fixed. The pairs one
  blocking key found all agree on that key's fields, which would teach that those fields always agree,
  so each key's pairs train the other fields only, and a field's ``m`` is the mean of what the keys
  that do not contain it learned (a field in every key learns from all pairs);
- the prior by expectation-maximisation over all the pairs found, ``m`` and ``u`` held fixed;
- with pairs people confirmed in review (``MatchConfig.confirmed``, from ``crm_ops.match.calibration``),
  each field's ``m`` moves towards their levels' shares, EM's counting as ``DECIDED_WEIGHT`` of them;
- term frequencies for fields with ``tf``: agreeing on a value held by a share ``f`` of the records
  weighs ``log2(m / f)`` instead of ``log2(m / u)``: two records agreeing on "Smith" tell less than two
  agreeing on "Okonkwo".

A ``Model`` holds what was learned; ``crm_ops.match.engine.score`` trains one on the pairs it scores
unless given one (the Spark engine trains one on the driver and gives it to every partition), and
``Model.summary`` says what it learned (for logs, ``crm-ops match`` and the run's summary).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl

from crm_ops.match.config import FieldRule, MatchConfig
from crm_ops.match.repeats import also_in, repeated

NULL = -1  # the level of a field missing on either side
RANDOM_PAIRS = 50_000  # random pairs u is counted on (fewer when the records make fewer)
RANDOM_RECORDS = 5_000  # the records random pairs are drawn from, at most (``chosen_records``)
TRAINING_PAIRS = 250_000  # candidate pairs each EM session reads at most (a random sample beyond)
ITERATIONS = 40
TOLERANCE = 1e-5
FLOOR = 1e-6  # no probability below this: a level never seen does not weigh infinitely
# No u below this: one level's agreement never weighs more than about 13 bits, however rare its value
# was counted. Values are not as unique as counted: a phone written to its last nine digits is shared by
# +44 20 7004 8700 and +49 30 7004 8700, a switchboard by a company's staff; at a million contacts an
# exact u of 1e-6 let one shared number (+20 bits) outweigh a different first name and e-mail.
U_FLOOR = 1e-4
# What the model believes before it has seen records, and how many pairs that belief weighs: a few
# records (a test, a new org, a small custom object) cannot teach m and u, so the estimates lean on these
# until the data outweighs them (maximum a posteriori): u as if from PRIOR_PAIRS pairs of two different
# records, m as if from PRIOR_MATCHES matches, the prior as if from PRIOR_MATCHES pairs found.
PRIOR_PAIRS = 1_000
PRIOR_MATCHES = 20
PRIOR = 0.1
PRIOR_U_EXACT = 0.001  # two different records agreeing exactly
PRIOR_U_NEAR = 0.004  # ... or in one of the levels between exact and differ
# how many decided pairs what EM learned of a field's m counts as, when people's confirmed pairs are
# learned from too (``MatchConfig.confirmed``)
DECIDED_WEIGHT = 50


def level_names(rule: FieldRule) -> tuple[str, ...]:
    """A field's comparison levels, best first; the last is always ``differ``."""
    bands = tuple(f"fuzzy>={b:g}" for b in rule.bands)
    swapped = ("swapped",) if rule.swap else ()
    if rule.comparator == "fuzzy":
        return ("exact", *bands, *swapped, "differ")
    if rule.comparator == "first_name":
        return ("exact", "alias", *bands, *swapped, "differ")
    if rule.comparator == "phonetic":
        return ("exact", "sounds-alike", *swapped, "differ")
    if rule.comparator == "date" and rule.days:
        return ("exact", f"within-{rule.days}d", *swapped, "differ")
    return ("exact", *swapped, "differ")


def levels(
    rule: FieldRule, similarity: np.ndarray, equal: np.ndarray, swapped: np.ndarray | None = None
) -> np.ndarray:
    """Each pair's level of ``rule`` (an index into ``level_names``, ``NULL`` where a side is missing)
    from its similarity (0-1, NaN when missing, as the comparators give it), whether the two
    normalised values are equal (or one is among the other's secondary values) and, for a rule with
    ``swap``, whether the values agree crosswise (this field of one record is the ``swap`` field of the
    other: a first and last name written the wrong way round): that level only when no better one
    holds."""
    names = level_names(rule)
    out = np.full(similarity.shape[0], len(names) - 1, dtype=np.int8)
    sim = np.nan_to_num(similarity, nan=0.0)
    if rule.comparator in ("fuzzy", "first_name"):
        first = 2 if rule.comparator == "first_name" else 1
        for k in range(len(rule.bands) - 1, -1, -1):
            out[sim >= rule.bands[k]] = first + k
        if rule.comparator == "first_name":
            out[sim >= 1.0] = 1  # a nickname or an initial: the comparator's 1.0 for unequal names
    elif rule.comparator in ("phonetic", "date") and names[1] != "swapped":
        out[sim >= 1.0] = 1
    if swapped is not None and rule.swap:
        out[swapped & (out == len(names) - 1)] = len(names) - 2
    out[equal] = 0
    out[np.isnan(similarity)] = NULL
    return out


@dataclass(frozen=True)
class FieldModel:
    """What was learned of one field: its reason label, level names, ``m`` and ``u`` per level, and
    for a ``tf`` field each normalised value's share of the records (``value``, ``share``)."""

    label: str
    levels: tuple[str, ...]
    m: tuple[float, ...]
    u: tuple[float, ...]
    shares: pl.DataFrame | None = None

    def weights(self) -> np.ndarray:
        """Each level's match weight in bits (``log2(m / u)``)."""
        out: np.ndarray = np.log2(np.asarray(self.m)) - np.log2(np.asarray(self.u))
        return out


@dataclass(frozen=True)
class Model:
    """A config's learned Fellegi-Sunter parameters: the prior probability that a compared pair matches
    (``prior``), each field's ``FieldModel``, and how much it learned from."""

    config: str
    prior: float
    fields: tuple[FieldModel, ...]
    pairs: int  # candidate pairs trained on
    random_pairs: int  # random pairs u was counted on
    notes: tuple[str, ...] = field(default=())

    @property
    def prior_weight(self) -> float:
        """The prior as a match weight: ``log2`` of its odds."""
        return math.log2(self.prior / (1.0 - self.prior))

    def summary(self) -> dict[str, Any]:
        """What was learned, for logs and summaries: the prior, and per field each level's m, u and
        weight (rounded), and the training sizes."""
        return {
            "config": self.config,
            "prior": round(self.prior, 6),
            "pairs": self.pairs,
            "random_pairs": self.random_pairs,
            "fields": {
                f.label: {
                    name: {"m": round(m, 5), "u": round(u, 6), "weight": round(float(w), 2)}
                    for name, m, u, w in zip(f.levels, f.m, f.u, f.weights(), strict=True)
                }
                for f in self.fields
            },
            "notes": list(self.notes),
        }


def _clip(p: np.ndarray) -> np.ndarray:
    out: np.ndarray = np.clip(p, FLOOR, None)
    return out / out.sum()  # type: ignore[no-any-return]


def prior_u(count: int) -> np.ndarray:
    """The ``u`` a field's levels have before any record is seen (``PRIOR_U_EXACT``, ``PRIOR_U_NEAR``)."""
    near = [PRIOR_U_NEAR] * (count - 2)
    return np.asarray([PRIOR_U_EXACT, *near, 1.0 - PRIOR_U_EXACT - sum(near)])


def u_probabilities(
    random_levels: np.ndarray, count: int, exact: tuple[float, float] | None = None
) -> np.ndarray:
    """A field's ``u`` per level from its levels on random pairs (``NULL`` ones left out), leaning on
    ``prior_u`` as if it were ``PRIOR_PAIRS`` more pairs. ``exact``, when known, is the exact level's
    ``u`` counted over every pair of records and how many pairs that is (``exact_u``): the other levels
    share the rest as the random pairs do."""
    seen = random_levels[random_levels >= 0].astype(np.int64)
    counts = np.bincount(seen, minlength=count).astype(float) if seen.size else np.zeros(count)
    prior = prior_u(count)
    u = (counts + PRIOR_PAIRS * prior) / (counts.sum() + PRIOR_PAIRS)
    if exact is not None:
        share, pairs = exact
        first = (pairs * share + PRIOR_PAIRS * prior[0]) / (pairs + PRIOR_PAIRS)
        u = np.concatenate([[first], (1.0 - first) * u[1:] / u[1:].sum()])
    u = np.clip(u, U_FLOOR, None)
    return u / u.sum()  # type: ignore[no-any-return]


def exact_u(left: pl.Series, right: pl.Series | None) -> tuple[float, float] | None:
    """The share of all pairs of records (of ``left`` among themselves, or of a ``left`` and a
    ``right`` one) with the value present on both sides that hold one value: sum of ``c(c-1)`` over
    ``n(n-1)``, or of ``cl * cr`` over ``nl * nr``. Exact where random pairs would only estimate it (an
    e-mail shared by two records in a million: u 1e-12, never seen in 50,000 random pairs), with the
    number of pairs it counted. None when no pair has the value on both sides.

    Within one frame only the values held twice or more count, across two only those both hold: they
    are found by their hashes (``repeats.repeated``, ``repeats.also_in``; a million distinct e-mails or
    phones are far slower to count as text), then counted exactly, so two values of one hash are still
    told apart."""
    if right is None:
        present = left.drop_nulls()
        return exact_u_of_counts(present.filter(repeated(present)).value_counts(name="n")["n"], present.len())
    lv, rv = left.drop_nulls().alias("v"), right.drop_nulls().alias("v")
    nl, nr = lv.len(), rv.len()
    if not nl or not nr:
        return None
    # only the values both sides may hold are counted (found by their hashes, ``repeats.also_in``):
    # most e-mails and phones of one CRM are not in the other's
    lc = lv.filter(also_in(lv, rv)).value_counts(name="c")
    rc = rv.filter(also_in(rv, lv)).value_counts(name="c")
    both = lc.join(rc, on="v", suffix="_r")
    same = float((both["c"].cast(pl.Float64) * both["c_r"].cast(pl.Float64)).sum())
    return same / (float(nl) * nr), float(nl) * nr


def exact_u_of_counts(counts: pl.Series, present: int) -> tuple[float, float] | None:
    """``exact_u`` within one frame from its values' counts (those held once may be left out) and the
    number of records that have a value (``present``)."""
    if present < 2:
        return None
    c = counts.cast(pl.Float64)
    n = float(present)
    return float((c * (c - 1)).sum()) / (n * (n - 1.0)), n * (n - 1.0) / 2


def _start_m(count: int) -> np.ndarray:
    """Where EM starts: a match mostly agrees exactly, rarely differs."""
    if count == 2:
        return np.array([0.9, 0.1])
    middle = np.full(count - 2, 0.1 / (count - 2))
    return _clip(np.concatenate([[0.85], middle, [0.05]]))


def _log_terms(matrix: np.ndarray, tables: Sequence[np.ndarray], active: Sequence[int]) -> np.ndarray:
    """Per pair the sum over the ``active`` fields of ``log2(table[level])`` (nulls add nothing)."""
    out = np.zeros(matrix.shape[0])
    for f in active:
        g = matrix[:, f]
        have = g >= 0
        out[have] += np.log2(tables[f])[g[have]]
    return out


def _posterior(logit: np.ndarray) -> np.ndarray:
    out: np.ndarray = 1.0 / (1.0 + np.exp2(-np.clip(logit, -200, 200)))
    return out


def expectation_maximisation(
    matrix: np.ndarray,
    u: Sequence[np.ndarray],
    active: Sequence[int],
    *,
    m: Sequence[np.ndarray] | None = None,
    prior: float = 0.1,
    learn_m: bool = True,
) -> tuple[list[np.ndarray], float, int]:
    """EM over the pairs' levels (``matrix``: pairs x fields): the ``m`` of the ``active`` fields (when
    ``learn_m``) and the prior, ``u`` fixed; each leaning on where it starts (``_start_m``, ``PRIOR``)
    as if from ``PRIOR_MATCHES`` more pairs. Returns ``m`` per field (unchanged for inactive ones), the
    prior and the iterations run."""
    ms = [np.array(x, dtype=float) for x in (m or [_start_m(len(x)) for x in u])]
    start = [_start_m(len(x)) for x in u]
    lam = prior
    base_u = _log_terms(matrix, u, active)
    iteration = 0
    for iteration in range(1, ITERATIONS + 1):  # noqa: B007 (the count is returned)
        logit = math.log2(lam / (1 - lam)) + _log_terms(matrix, ms, active) - base_u
        p = _posterior(logit)
        new_lam = float((p.sum() + PRIOR_MATCHES * PRIOR) / (p.size + PRIOR_MATCHES))
        change = abs(new_lam - lam)
        if learn_m:
            for f in active:
                g = matrix[:, f]
                have = g >= 0
                if not have.any() or p[have].sum() <= 0:
                    continue
                counts = np.bincount(g[have].astype(np.int64), weights=p[have], minlength=len(ms[f]))
                counts = counts + PRIOR_MATCHES * start[f]
                new_m = _clip(counts / counts.sum())
                change = max(change, float(np.abs(new_m - ms[f]).max()))
                ms[f] = new_m
        lam = new_lam
        if change < TOLERANCE:
            break
    return ms, lam, iteration


def _sample(count: int, size: int, rng: np.random.Generator) -> np.ndarray | None:
    """Indices of a random sample of ``size`` out of ``count`` (None: take them all)."""
    return None if count <= size else np.sort(rng.choice(count, size, replace=False))


def train(
    config: MatchConfig,
    matrix: np.ndarray,
    random_matrix: np.ndarray,
    key_masks: Mapping[int, np.ndarray],
    shares: Mapping[int, pl.DataFrame],
    labels: Sequence[str],
    *,
    exact: Mapping[int, tuple[float, float] | None] | None = None,
    seed: int = 0,
) -> Model:
    """A ``Model`` of ``config`` from its candidate pairs' levels (``matrix``: pairs x rules), random
    pairs' levels (``random_matrix``), which candidates each blocking key found (``key_masks``: the
    key's index to a boolean mask over the pairs) and, for ``tf`` rules, the value shares (rule index
    to ``value``, ``share``). ``labels`` name the rules (their reason labels); ``exact``: rule index to
    its exact level's ``u`` counted over all pairs (``exact_u``)."""
    rng = np.random.default_rng(seed)
    rules = config.fields
    counts = [len(level_names(r)) for r in rules]
    exact = exact or {}
    u = [u_probabilities(random_matrix[:, f], counts[f], exact.get(f)) for f in range(len(rules))]
    notes = []
    learned: dict[int, list[np.ndarray]] = {f: [] for f in range(len(rules))}
    keyed = _keyed_fields(config)
    for index, mask in key_masks.items():
        active = [f for f in range(len(rules)) if f not in keyed[index]]
        pairs = matrix[mask]
        if not active or pairs.shape[0] < 10:
            continue
        chosen = _sample(pairs.shape[0], TRAINING_PAIRS, rng)
        ms, _, _ = expectation_maximisation(pairs if chosen is None else pairs[chosen], u, active)
        for f in active:
            learned[f].append(ms[f])
    everything = _sample(matrix.shape[0], TRAINING_PAIRS, rng)
    sample = matrix if everything is None else matrix[everything]
    untaught = [f for f in range(len(rules)) if not learned[f]]
    if untaught and sample.shape[0]:
        ms, _, _ = expectation_maximisation(sample, u, list(range(len(rules))))
        for f in untaught:
            learned[f].append(ms[f])
            notes.append(
                f"{labels[f]}: learned from all pairs together (in every blocking key, or too few pairs "
                "outside those that share it)"
            )
    m = [_clip(np.mean(learned[f], axis=0)) if learned[f] else _start_m(counts[f]) for f in range(len(rules))]
    for f in range(len(rules)):
        if not learned[f]:
            notes.append(f"{labels[f]}: too few pairs to learn from, the starting m kept")
    if config.confirmed:
        m = _with_confirmed(m, np.asarray(config.confirmed, dtype=np.int64), counts)
        notes.append(f"m learned beside {len(config.confirmed):,} pairs people confirmed in review")
    prior = PRIOR
    if sample.shape[0]:
        _, prior, _ = expectation_maximisation(sample, u, list(range(len(rules))), m=m, learn_m=False)
    fields = tuple(
        FieldModel(labels[f], level_names(r), tuple(map(float, m[f])), tuple(map(float, u[f])), shares.get(f))
        for f, r in enumerate(rules)
    )
    return Model(config.name, prior, fields, int(matrix.shape[0]), int(random_matrix.shape[0]), tuple(notes))


def _with_confirmed(m: list[np.ndarray], confirmed: np.ndarray, counts: Sequence[int]) -> list[np.ndarray]:
    """Each field's ``m`` moved towards the share of each level among the pairs people confirmed
    (``confirmed``: pairs x rules, ``NULL`` where not compared), EM's counting as ``DECIDED_WEIGHT``
    decisions: a few decisions nudge it, hundreds outweigh it."""
    out = []
    for f, m_f in enumerate(m):
        seen = confirmed[:, f][confirmed[:, f] >= 0]
        if not len(seen) or seen.max() >= counts[f]:
            out.append(m_f)
            continue
        tally = np.bincount(seen, minlength=counts[f]).astype(float)
        out.append(_clip((DECIDED_WEIGHT * m_f + tally) / (DECIDED_WEIGHT + len(seen))))
    return out


def _keyed_fields(config: MatchConfig) -> dict[int, set[int]]:
    """Per blocking key, the rules (indices) on the fields it joins."""
    out = {}
    for k, key in enumerate(config.blocking):
        out[k] = {i for i, r in enumerate(config.fields) if r.field in key}
    return out


def pair_weights(
    model: Model, matrix: np.ndarray, values: Mapping[int, pl.Series] | None = None
) -> np.ndarray:
    """Each pair's match weight per field (pairs x fields, bits; 0 where null): the level's weight, and
    for a ``tf`` field agreeing exactly ``log2(m_exact / share)`` of the value agreed on (``values``:
    rule index to the pairs' normalised values)."""
    out = np.zeros(matrix.shape, dtype=float)
    for f, fm in enumerate(model.fields):
        g = matrix[:, f]
        have = g >= 0
        out[have, f] = fm.weights()[g[have]]
        if fm.shares is not None and values is not None and f in values:
            exact = g == 0
            if exact.any():
                share = (
                    values[f]
                    .cast(pl.String)
                    .alias("value")
                    .to_frame()
                    .join(fm.shares, on="value", how="left", maintain_order="left")["share"]
                    .fill_null(fm.u[0])
                    .to_numpy()
                )
                tf = np.log2(fm.m[0]) - np.log2(np.clip(share, U_FLOOR, None))
                out[exact, f] = tf[exact]
    return out


def value_shares(values: pl.Series) -> pl.DataFrame:
    """Each normalised value's share of the records that have one (``value``, ``share``), leaning on
    ``PRIOR_U_EXACT`` as if from ``PRIOR_PAIRS`` more records (three records of five named Smith say
    little about how common Smith is)."""
    return shares_of(*value_counts(values))


def value_counts(values: pl.Series) -> tuple[pl.DataFrame, int]:
    """Each normalised value's count (``value`` as text, ``n``) and the number of records that have one:
    what ``shares_of`` and, within one frame, ``exact_u_of_counts`` read."""
    present = values.cast(pl.String).drop_nulls()
    return present.alias("value").value_counts(name="n"), present.len()


def shares_of(counts: pl.DataFrame, present: int) -> pl.DataFrame:
    """``value_shares`` from each value's count (``value``, ``n``) of ``present`` records."""
    if not present:
        return pl.DataFrame(schema={"value": pl.String, "share": pl.Float64})
    share = (pl.col("n") + PRIOR_PAIRS * PRIOR_U_EXACT) / (present + PRIOR_PAIRS)
    return counts.select(pl.col("value").cast(pl.String), share.cast(pl.Float64).alias("share"))


def _crc_table() -> np.ndarray:
    """CRC-32's (zlib's, Spark's ``crc32``) byte table: the remainder of each byte value."""
    table = np.arange(256, dtype=np.uint32)
    for _ in range(8):
        table = np.where(table & 1, (table >> 1) ^ np.uint32(0xEDB88320), table >> 1).astype(np.uint32)
    return table


_CRC_TABLE = _crc_table()


def record_hashes(ids: pl.Series) -> pl.Series:
    """Each id's CRC-32 (of its UTF-8 text, ``zlib.crc32``'s): the order ``chosen_records`` takes records
    in, which Spark computes the same way (``crc32``), so both engines draw random pairs from the same
    records. Computed for all the ids at once, a byte position at a time (a million ids of 18 characters:
    18 vectorised steps, where a Python call per id cost 0.2 s)."""
    texts = ids.cast(pl.String)
    if texts.null_count():
        raise ValueError("record_hashes: an id is missing (null)")
    crc = np.full(texts.len(), 0xFFFFFFFF, dtype=np.uint32)
    if texts.len():
        lengths = texts.str.len_bytes().to_numpy().astype(np.int64)
        data = np.frombuffer(texts.str.join("").item().encode(), dtype=np.uint8)
        width = int(lengths.max())
        if (lengths == width).all():  # ids of one length (a CRM's): byte j of every id is a column
            table = data.reshape(texts.len(), width)
            for j in range(width):
                crc = _CRC_TABLE[(crc ^ table[:, j]) & 0xFF] ^ (crc >> 8)
        else:
            starts = np.cumsum(lengths) - lengths
            for j in range(width):
                rows = lengths > j
                current = crc[rows]
                crc[rows] = _CRC_TABLE[(current ^ data[starts[rows] + j]) & 0xFF] ^ (current >> 8)
    return pl.Series("crc", (crc ^ np.uint32(0xFFFFFFFF)).astype(np.int64), dtype=pl.Int64)


def chosen_records(records: pl.DataFrame, size: int = RANDOM_RECORDS) -> pl.DataFrame:
    """Up to ``size`` of ``records`` (an ``id`` column): those of the smallest id hashes, a spread
    sample that does not depend on the records' order or on a random state; then in id order."""
    if records.height > size:
        crc = record_hashes(records["id"]).to_numpy()
        bound = np.partition(crc, size - 1)[size - 1]  # the size-th smallest hash: ties kept, then cut
        near = records.with_columns(pl.Series("__crc", crc)).filter(pl.Series(crc <= bound))
        records = near.sort("__crc", "id").head(size).drop("__crc")
    return records.sort("id")


def random_pairs(left: int, right: int | None, size: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Row indices of up to ``size`` random pairs: of ``left`` records among themselves (``right`` None,
    never a record with itself) or of a left and a right record."""
    rng = np.random.default_rng(seed)
    if right is None:
        if left < 2:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
        size = min(size, left * (left - 1) // 2)
        a = rng.integers(0, left, size)
        b = rng.integers(0, left - 1, size)
        b = np.where(b >= a, b + 1, b)  # never the record itself
        return a, b
    if not left or not right:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    size = min(size, left * right)
    return rng.integers(0, left, size), rng.integers(0, right, size)


def expected_precision(
    probabilities: np.ndarray, thresholds: Sequence[float] = (0.5, 0.8, 0.9, 0.95, 0.99)
) -> list[tuple[float, int, float]]:
    """What the model expects of each threshold: ``(threshold, pairs at or above it, their mean match
    probability)``, the mean being the share of them it expects to be true matches (its precision, when
    its probabilities are calibrated; a test holds it to the truth of FEBRL3)."""
    out = []
    for t in thresholds:
        kept = probabilities[probabilities >= t]
        out.append((float(t), int(kept.size), float(kept.mean()) if kept.size else 1.0))
    return out
