"""The HTTP API under /api, the OpenAI-compatible API under /v1, their schemas and errors."""
