#!/usr/bin/env bash
# One command from a fresh clone to the whole test suite: virtual environment, dependencies,
# a PostgreSQL server and a headless Chromium from Debian's packages, then pytest.
# Extra arguments go to pytest (e.g. `bash scripts/test.sh -m "not slow"`).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh

need=()
compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || need+=(postgresql)
command -v chromium >/dev/null || need+=(chromium)  # the end-to-end tests of the chat page
fc-list :lang=zh 2>/dev/null | grep -q . || need+=(fonts-wqy-zenhei)  # Chinese text in its screenshots
if [ ${#need[@]} -gt 0 ]; then
  echo "==> installing ${need[*]} from Debian's packages"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
fi

export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 GRADIO_ANALYTICS_ENABLED=False
exec .venv/bin/python -m pytest "$@"
