#!/usr/bin/env bash
# The Python package's CI: a fresh virtualenv, `pip install ./python` (a debug build that
# reuses the root build's compiled dependencies in target/), then pytest: gpuscan against
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

echo "== python: pip install ./python (dev profile, target dir shared with the root build)"
# The root `cargo test` has already compiled wgpu, naga and gpuscan itself in this profile
# with the same features; building into the same target directory reuses them.
CARGO_TARGET_DIR="$root/target" MATURIN_PEP517_ARGS="--profile dev" \
  "$venv/bin/pip" install -q --disable-pip-version-check --no-build-isolation .

echo "== python: pytest"
cd tests
rc=0
"$venv/bin/python" -m pytest -q -p no:cacheprovider "$@" || rc=$?
if [ "$rc" -eq 5 ]; then
  echo "pytest collected no tests: the test files did not load" >&2
fi
echo "== python: done in $((SECONDS - start)) s (pytest exit $rc)"
exit "$rc"
