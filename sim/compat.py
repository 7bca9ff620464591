"""Mesa, imported without the process-wide setting its import changes.

Importing `mesa` imports `mesa.batchrunner`, which calls
`multiprocessing.set_start_method("spawn", force=True)` (Mesa 3.3). In a notebook or any
program that imports the model, that would switch every later process pool of the program
(EMA Workbench's MultiprocessingEvaluator, a user's own Pool) to spawn. The start method is
put back as it was, unset included; `mesa.batch_run` works either way.
"""

from __future__ import annotations

import multiprocessing

_method = multiprocessing.get_start_method(allow_none=True)
try:
    import mesa
finally:
    # None with force=True unsets it again: the platform's default applies, as before
    multiprocessing.set_start_method(_method, force=True)

__all__ = ["mesa"]
