#!/usr/bin/env bash
# Regenerate the lock files from pyproject.toml (`make lock`):
#   requirements.lock       the runtime dependencies and the `test` extra: what `make install` installs
#   requirements-lint.lock  the `lint` extra: what `make lint` adds to the venv
# Every line is an exact `==` version with the sha256 of each file that pip may pick for it, and
# the Makefile installs with `pip install --require-hashes`, so a release or a changed file on the
# registry cannot reach the venv until a lock is regenerated and committed.
#
# pip-compile keeps the versions already in the lock files unless told otherwise, so a run after a
# change to pyproject.toml adds, drops or moves only what that change needs. Extra arguments go to
# pip-compile:
#   tools/lock.sh                             # after editing pyproject.toml
#   tools/lock.sh --upgrade-package flask     # move one package (and what it needs) to its newest release
#   tools/lock.sh --upgrade-package flask==3.1.4
#   tools/lock.sh --upgrade                   # move everything within pyproject.toml's ranges
#
# torch comes from the CPU build that pip finds on this machine's disk (its pip config's
# find-links), `torch==2.13.0+cpu`, hashed as that file; PyPI's torch 2.13.0 is a CUDA build of
# several GB and its hashes are not in the lock, so pip can never pick it. Index and find-links
# settings are not written into the locks: pip takes them from the machine's own configuration.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
PYTHON="${PYTHON:-python3}"
PIP_TOOLS_VERSION=7.6.2

work="$(mktemp -d "${TMPDIR:-/tmp}/techmatch-lock.XXXXXX")"
trap 'rm -rf "$work"' EXIT

"$PYTHON" -m venv "$work/venv"
"$work/venv/bin/python" -m pip install --quiet --disable-pip-version-check "pip-tools==$PIP_TOOLS_VERSION"

export CUSTOM_COMPILE_COMMAND="make lock"
compile=(
  "$work/venv/bin/pip-compile" --quiet --generate-hashes --allow-unsafe --strip-extras
  --no-emit-index-url --no-emit-find-links --no-emit-trusted-host
)

# Runtime + test. --allow-unsafe keeps setuptools (torch needs it at run time; it also builds the
# project's own editable install, without build isolation) pinned and hashed.
"${compile[@]}" "$@" --extra test --output-file requirements.lock pyproject.toml

# The lint extra alone (the Makefile installs it on top of requirements.lock), constrained to the
# versions requirements.lock already has, so the packages the two share agree.
"$work/venv/bin/python" - "$work" <<'EOF'
import sys, tomllib
from pathlib import Path

work = Path(sys.argv[1])
lint = tomllib.loads(Path("pyproject.toml").read_text())["project"]["optional-dependencies"]["lint"]
(work / "lint.in").write_text("-c constraints.txt\n" + "".join(f"{r}\n" for r in lint))
pins = [line.split(" ")[0] for line in Path("requirements.lock").read_text().splitlines() if line[:1].isalnum()]
(work / "constraints.txt").write_text("".join(f"{p}\n" for p in pins))
EOF
(cd "$work" && "${compile[@]}" "$@" --output-file "$root/requirements-lint.lock" lint.in)
echo "lock: wrote requirements.lock and requirements-lint.lock"
