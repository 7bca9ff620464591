"""The quickstart design's tables, fingerprinted: a refactor must not change what runs print.

Each design point of `experiments/configs/quickstart.toml` (both markets, the three presets)
is run for its first two replications; the runs, monthly and deals tables are hashed
without `run_id` (a name for the spec, not a result of it). The
hashes change only when the model changes on purpose: then update them in the same commit,
and say why in its message.
"""

from __future__ import annotations

import hashlib

import polars as pl
import pytest

from sim import make_spec, simulate

SEED = 20261127  # quickstart.toml
POINTS = [(m, p) for m in ("japan", "us") for p in ("us_urgency", "jp_relationship", "hybrid")]

EXPECTED = {
    "runs": "36758b8c2759cb05",
    "monthly": "dbf87aec1c5e548b",
    "deals": "01e4e6af68288711",
}


def _fingerprints() -> dict[str, str]:
    tables: dict[str, list[pl.DataFrame]] = {"runs": [], "monthly": [], "deals": []}
    for point, (market, policy) in enumerate(POINTS):
        for replication in range(2):
            spec = make_spec(
                market,
                policy,
                seed=SEED,
                replication=replication,
                experiment="quickstart",
                design_point=point,
            )
            result = simulate(spec)
            for name in tables:
                tables[name].append(getattr(result, name))
    return {
        name: hashlib.sha256(pl.concat(frames).drop("run_id").write_csv().encode()).hexdigest()[:16]
        for name, frames in tables.items()
    }


@pytest.mark.slow
def test_quickstart_tables_match_their_fingerprint():
    assert _fingerprints() == EXPECTED
