"""numpy's own tests of these functions, with numpy's functions swapped for gpuscan's
(numpy_swap.py), on the CPU and the GPU."""

import os
import subprocess
import sys

import numpy as np
import pytest

NP = os.path.dirname(np.__file__)
HERE = os.path.dirname(__file__)
SELECTED = [
    "lib/tests/test_function_base.py::TestCumsum",
    "lib/tests/test_function_base.py::TestCumprod",
    "lib/tests/test_function_base.py::test_cumulative_include_initial",
    "lib/tests/test_nanfunctions.py::TestNanFunctions_CumSumProd",
    "_core/tests/test_ufunc.py",
    "_core/tests/test_mem_overlap.py",
]
# In test_ufunc.py and test_mem_overlap.py: the tests that call ufunc.accumulate (with out=,
# overlapping out, zero-size axes, byte order, casting and floating-point errors).
KEYWORDS = ("TestCumsum or TestCumprod or include_initial or CumSumProd or accumulate or "
            "reduce_zero_axis or reducelike or floatingpoint_error or floaterrors")


@pytest.mark.parametrize("device", ["cpu", "gpu"])
def test_numpy_suite(device):
    paths = [os.path.join(NP, p) for p in SELECTED]
    if not os.path.exists(paths[0].split("::")[0]):
        pytest.skip("this numpy was installed without its tests")
    env = dict(os.environ, GPUSCAN_TEST_DEVICE=device,
               PYTHONPATH=os.pathsep.join([HERE, os.environ.get("PYTHONPATH", "")]))
    r = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "numpy_swap", "-p", "no:cacheprovider",
         "-W", "ignore::DeprecationWarning", "-k", KEYWORDS, *paths],
        env=env, capture_output=True, text=True, cwd=HERE)
    tail = r.stdout[-3000:] + r.stderr[-2000:]
    print(tail)
    assert r.returncode == 0, tail
    assert "failed" not in r.stdout.splitlines()[-1], tail
    calls = [ln for ln in r.stdout.splitlines() if ln.startswith("gpuscan calls")]
    assert calls and int(calls[0].split(": ")[1]) > 1000, tail
