"""The engine choice (``crm_ops.engines``): what computes the rules and matching, named and refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from crm_ops.config import Profile, load_profile
from crm_ops.engines import check_rules, chosen_engine, run_matching_on
from crm_ops.errors import ConfigError


def _profile(folder: Path, engine: str = "polars") -> Profile:
    config = folder / "crm-ops.toml"
    config.write_text(f'[profiles.t]\nstate_dir = "state"\nproduction = false\nengine = "{engine}"\n')
    return load_profile(config, "t")


def test_the_engine_is_the_callers_else_the_profiles(tmp_path: Path) -> None:
    assert chosen_engine(_profile(tmp_path)) == "polars"
    assert chosen_engine(_profile(tmp_path), "spark") == "spark"
    assert chosen_engine(_profile(tmp_path, "spark")) == "spark"


def test_an_unknown_engine_is_refused_naming_the_engines(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"engine: expected one of polars, spark, got 'dask'"):
        check_rules(_profile(tmp_path), [], engine="dask")


def test_matching_a_profile_with_nothing_pulled_says_to_pull_first(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"state: nothing pulled yet; run `crm-ops pull` first"):
        run_matching_on(_profile(tmp_path), rules=[])
