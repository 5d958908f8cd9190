#!/usr/bin/env bash
# The Python package's CI: a fresh virtualenv, `pip install ./python` (a debug build without
# debug info, profile `ci`), then pytest: gpuscan against
# numpy (hypothesis), numpy's own tests with gpuscan swapped in, and gpuscan.dask on a
# two-process local cluster.
set -euo pipefail
cd "$(dirname "$0")"
root="$(cd .. && pwd)"
venv="${GPUSCAN_CI_VENV:-$root/target/python-ci-venv}"
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-$(mktemp -d)}"
start=$SECONDS

echo "== python: virtualenv and test dependencies"
python3 -m venv --clear "$venv"
"$venv/bin/pip" install -q --disable-pip-version-check \
  "maturin==1.16.0" "numpy==2.4.6" "pytest==9.2.0" "hypothesis==6.170.17" \
  "dask[array]==2026.8.0" "distributed==2026.8.0"

echo "== python: pip install ./python (profile ci: dev without debug info, into python/target) at $((SECONDS - start)) s"
# Sharing the root build's target directory reuses nothing of weight: pyo3's macros turn on
# more syn features, and rust-numpy more num-traits ones, than the root build, so wgpu, naga
# and gpuscan are compiled again either way. A debug build without debug info is the fastest.
PATH="$venv/bin:$PATH" MATURIN_PEP517_ARGS="--profile ci" \
  "$venv/bin/pip" install -q --disable-pip-version-check --no-build-isolation .

echo "== python: pytest at $((SECONDS - start)) s"
cd tests
rc=0
"$venv/bin/python" -m pytest -q -p no:cacheprovider "$@" || rc=$?
if [ "$rc" -eq 5 ]; then
  echo "pytest collected no tests: the test files did not load" >&2
fi
echo "== python: done in $((SECONDS - start)) s (pytest exit $rc)"
exit "$rc"
