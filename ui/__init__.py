"""Front doors only: they render what `chatbot.services` returns; no SQL, no model calls.

- `cli`: the `chatbot` command (`terminal`: its plain-text views);
- `server`: the web server that assembles the front doors below;
- `api/`: the HTTP API (/api), the OpenAI-compatible API (/v1), their schemas and errors;
- `chat/`: the customer chat page (Gradio) at /.
"""
