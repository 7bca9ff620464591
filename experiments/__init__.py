"""Experiments: design, execution, storage, reports and the `partnersim` command."""
