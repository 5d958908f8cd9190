import os

os.environ.setdefault("XDG_RUNTIME_DIR", "/tmp")

from hypothesis import HealthCheck, settings  # noqa: E402

# Small, fast runs: CI time is tight; `HYPOTHESIS_PROFILE=long` runs more.
# Derandomized: the same examples on every run, so CI is deterministic.
settings.register_profile("ci", max_examples=40, deadline=None, derandomize=True,
                          database=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("long", max_examples=500, deadline=None, database=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
