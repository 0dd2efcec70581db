"""Seeding's fast paths: a few rows' phones and addresses are the text the many-row path makes from the same
draws, and a seed gives the same data in any process (nothing hangs on Python's string hashing)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from crm_ops.sandbox import wordlists as w
from crm_ops.sandbox.generator import addresses
from crm_ops.sandbox.generator.columns import free_rows, numbered, rows_but

COUNTRIES = np.asarray(sorted(w.CITIES) * 3, dtype=object)

DIGEST = """
import hashlib, sys
from datetime import date
from crm_ops.sandbox.generator import SeedConfig, generate
d = generate(SeedConfig(records=600, seed=3, as_of=date(2026, 6, 1)))
m = d.manifest
frames = [*d.salesforce.values(), *d.hubspot.values(), *d.hubspot_associations.values()]
frames += [m.defects, m.duplicates, m.matches, m.drift, m.deleted, m.lookalikes]
h = hashlib.sha256()
for f in frames:
    h.update(str(f.schema).encode())
    h.update(f.hash_rows(seed=1).to_numpy().tobytes() if f.height else b"-")
print(h.hexdigest())
"""


def _draw(make: str, countries: np.ndarray, few: int, monkeypatch: pytest.MonkeyPatch) -> tuple[Any, float]:
    """What ``addresses.make`` gives for ``countries`` with the few-row path up to ``few`` rows, and the
    stream's next draw after it."""
    monkeypatch.setattr(addresses, "_FEW", few)
    rng = np.random.default_rng(7)
    out = getattr(addresses, make)(rng, countries)
    return out, float(rng.random())


@pytest.mark.parametrize("make", ["_phones", "_places"])
def test_a_few_rows_get_the_text_and_leave_the_stream_as_many_rows_do(
    make: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for rows in (COUNTRIES[:1], COUNTRIES[5:7], COUNTRIES):
        fast, after_fast = _draw(make, rows, len(COUNTRIES), monkeypatch)
        bulk, after_bulk = _draw(make, rows, 0, monkeypatch)
        assert after_fast == after_bulk
        if make == "_phones":
            assert list(fast) == list(bulk)
            assert all(str(p).startswith("+") for p in fast)
        else:
            assert fast.keys() == bulk.keys()
            for key in bulk:
                assert list(fast[key]) == list(bulk[key]), key
            assert not any("#" in str(p) for p in fast["postal"])


def test_row_selections_and_numbers() -> None:
    assert rows_but(6, {4, 1}).tolist() == [0, 2, 3, 5]
    assert rows_but(3, np.asarray([], dtype=np.int64)).tolist() == [0, 1, 2]
    assert free_rows(np.asarray([10, 11, 12]), {"11"}).tolist() == [0, 2]
    assert free_rows(np.asarray(["a", "b"], dtype=object), set()).tolist() == [0, 1]
    assert numbered("SUB-{}", 9, 3, 6).to_list() == ["SUB-000009", "SUB-000010", "SUB-000011"]


def test_a_seed_gives_the_same_data_whatever_the_process_hash_seed() -> None:
    src = str(Path(__file__).resolve().parents[2] / "src")
    digests = set()
    for hash_seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": hash_seed, "PYTHONPATH": src}
        run = subprocess.run(
            [sys.executable, "-c", DIGEST], env=env, capture_output=True, text=True, check=True, timeout=300
        )
        digests.add(run.stdout.strip())
    assert len(digests) == 1
