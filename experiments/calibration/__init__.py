"""Calibration: search free parameters so the model's statistics land in published ranges.

`partnersim calibrate TARGETS.toml --out DIR`. One idea per module:

    targets      the calibration file -> a validated `Calibration` (targets, free parameters)
    statistics   the registry of named statistics, each a value and a 95% interval
    search       Optuna TPE proposals, the loss, trials run on the project's executors
    study        DIR: its manifest, the SQLite study, the lock, --fresh
    output       market files, targets.parquet, trials.parquet, the printed table
    command      the command itself

`section7.toml` holds MODEL.md section 7's targets. See docs/EXPERIMENTS.md, "Calibration".
"""
