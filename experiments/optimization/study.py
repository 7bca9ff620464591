"""An optimization's directory: calibration's (manifest, SQLite study, lock, --fresh), with
the problem's directions and trials that carry their constraints.

    DIR/optimization.json   format, name, the file as given, its canonical form and hash,
                            the model hash, versions, git commit, sessions
    DIR/study.db            the Optuna study (SQLite): finished trials only, in order; each
                            with its objectives' means as values, its constraints' violations,
                            and in user_attrs every outcome per replication and each bound
    DIR/trials.parquet  DIR/front.parquet  DIR/outcomes.parquet  DIR/policy.toml
    DIR/optimization.html  DIR/charts/

The hash leaves out `trials`, `workers`, `finalists` and `description`: raising `trials`
continues the same study.
"""

from __future__ import annotations

from typing import Any

from experiments.calibration import study as calibration_study
from experiments.calibration.study import LOCK, STUDY  # noqa: F401 (DIR's names)
from experiments.optimization.problem import Problem
from experiments.optimization.search import Finished, distributions
from experiments.store.atomic import uninterrupted

MANIFEST = "optimization.json"
MANAGED = [
    STUDY,
    f"{STUDY}-journal",
    f"{STUDY}-wal",
    f"{STUDY}-shm",
    "trials.parquet",
    "front.parquet",
    "outcomes.parquet",
    "policy.toml",
    "optimization.html",
    "charts",
    MANIFEST,
]


class Directory(calibration_study.Directory):
    """DIR opened for an optimization: locked, manifest written, the study loaded."""

    MANIFEST = MANIFEST
    STUDY_NAME = "optimization"
    MANAGED = MANAGED
    COMMAND = "optimize"
    KIND = "optimization"

    spec: Problem

    @property
    def directions(self) -> list[str]:
        return self.spec.directions

    @uninterrupted  # Ctrl-C waits for the trial's commit (SQLite makes kill -9 safe too)
    def store(self, finished: Finished) -> Any:
        """Add a finished trial to the study (committed to the database when this returns)."""
        from optuna.trial import TrialState, create_trial

        attrs: dict[str, Any] = {"seconds": round(finished.seconds, 3)}
        evaluation = finished.evaluation
        if evaluation is not None:
            attrs["outcomes"] = evaluation.values
            attrs["bounds"] = list(evaluation.bounds)
        if finished.error is not None:
            attrs["error"] = finished.error
        trial = create_trial(
            state=TrialState.FAIL if evaluation is None else TrialState.COMPLETE,
            values=None if evaluation is None else list(evaluation.objectives),
            params=finished.values,
            distributions=distributions(self.spec),
            user_attrs=attrs,
            system_attrs=finished.system_attrs,
            constraints=(
                None
                if evaluation is None or not evaluation.violations
                else {str(i): v for i, v in enumerate(evaluation.violations)}
            ),
        )
        self.study.add_trial(trial)
        return self.study.get_trials(deepcopy=False)[-1]
