"""Optimization: the best policy levers for an objective under risk bounds.

`partnersim optimize CONFIG --out DIR`. One idea per module:

    problem    the optimization file -> a validated `Problem` (levers, objectives, constraints)
    outcomes   a candidate's objectives (means) and constraints' one-sided bounds
    search     Optuna's constrained TPE or NSGA-II on calibration's schedule and pipeline
    study      DIR: calibration's manifest, SQLite study and lock, for optimizations
    output     trials, front and outcomes tables, the chosen policy file, the printed summary
    page       DIR/optimization.html and DIR/charts/
    command    the command itself

`experiments/configs/best_hybrid_japan.toml` is the shipped problem. See docs/EXPERIMENTS.md,
"Optimization".
"""
