"""Hypothesis settings profiles for the whole test suite.

`ci` (the default) is derandomized, so every run of the suite tries the same examples, with
a bounded number of them and no deadline (a model run's time varies with its draw).
`thorough` explores with fresh randomness and many more examples: choose it with
`HYPOTHESIS_PROFILE=thorough python -m pytest tests/model`.
"""

from __future__ import annotations

import os
import signal

from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci",
    derandomize=True,
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    print_blob=True,
)
settings.register_profile(
    "thorough",
    max_examples=400,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    print_blob=True,
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

# A suite started in the background by a shell without job control inherits SIGINT ignored,
# and Python then leaves it ignored: the tests of Ctrl-C (in this process and in the
# commands it starts, which inherit the disposition) would see no interrupt. Ctrl-C is
# given back its usual meaning, so the suite tests the same thing however it is started.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)
