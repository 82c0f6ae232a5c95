#!/usr/bin/env bash
# One command from a fresh clone to a running bot on http://localhost:7860:
# virtual environment, dependencies, database migration, demo knowledge base, index, server.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 GRADIO_ANALYTICS_ENABLED=False
export CHATBOT_HOME=${CHATBOT_HOME:-$PWD/.chatbot-home}
.venv/bin/chatbot db upgrade
.venv/bin/chatbot kb demo
exec .venv/bin/chatbot serve "$@"
