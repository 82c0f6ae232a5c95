"""The shapes of OpenAI's chat-completions API, as this bot reads and answers them.

Requests are read leniently (OpenAI clients send options such as `temperature` that a
knowledge-base bot has no use for: they are accepted and ignored); answers follow OpenAI's
`chat.completion` / `chat.completion.chunk` objects, plus the bot's own fields: `abstained`,
`confidence`, `language`, `sources`, `conversation_id`, `latency_ms` and `generator`.

    >>> turn, history = split_turn([MessageIn(role="user", content="Where is my order?")])
    >>> turn, history
    ('Where is my order?', [])
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from chatbot.messages import ChatMessage, Reply, reply_to_json
from chatbot.stages.prompts import estimate_tokens

# The one model this API serves: the whole bot (retrieval, decision, generation, logging).
MODEL_ID = "support-chatbot"


class MessageIn(BaseModel):
    """One message of the request. `system` and `developer` messages are read but not obeyed:
    the bot's rules are its own. `content` is a string, or a list of text parts (joined)."""

    model_config = ConfigDict(extra="ignore")

    role: Literal["system", "developer", "user", "assistant"]
    content: str | None = None

    @field_validator("content", mode="before")
    @classmethod
    def _join_text_parts(cls, content: object) -> object:
        if not isinstance(content, list):
            return content  # a string or null; anything else fails as "not a valid string"
        if not all(isinstance(part, dict) and part.get("type") == "text" and isinstance(part.get("text"), str)
                   for part in content):
            raise ValueError("only text parts ({'type': 'text', 'text': ...}) are supported")
        return "\n".join(part["text"] for part in content)

    @property
    def text(self) -> str:
        return self.content or ""


class StreamOptions(BaseModel):
    model_config = ConfigDict(extra="ignore")

    include_usage: bool = False


class ChatCompletionRequest(BaseModel):
    """`POST /v1/chat/completions`: the last message is the customer's turn. `user`, like the
    `X-Conversation-Id` header, names a conversation to continue (its stored history is used)."""

    model_config = ConfigDict(extra="ignore")

    model: str = MODEL_ID  # any name is accepted; the answer names the model that answered
    messages: list[MessageIn]
    stream: bool = False
    stream_options: StreamOptions | None = None
    user: str | None = Field(default=None, max_length=256)
    # The bot's extra field: the chosen option of the conversation's last clarification (see
    # `POST /api/ask`'s `choice`); it needs the conversation (`X-Conversation-Id` or `user`).
    choice: str | None = Field(default=None, max_length=128)


class TurnError(ValueError):
    """The messages do not make a turn; `param` names the offending field."""

    def __init__(self, message: str, param: str = "messages") -> None:
        super().__init__(message)
        self.param = param


def split_turn(messages: list[MessageIn]) -> tuple[str, list[ChatMessage]]:
    """The customer's turn (the last message, which must be the user's) and the earlier
    messages as history; raises `TurnError` when there is no turn to answer."""
    if not messages:
        raise TurnError("messages is empty: send at least one message with role 'user'")
    if not any(m.role == "user" for m in messages):
        raise TurnError("messages has no message with role 'user': there is nothing to answer")
    last = messages[-1]
    if last.role != "user":
        raise TurnError(f"the last message must be the customer's (role 'user'), not {last.role!r}",
                        f"messages.{len(messages) - 1}.role")
    return last.text, [ChatMessage(m.role, m.text) for m in messages[:-1]]


def completion_id() -> str:
    return f"chatcmpl-{uuid.uuid4().hex}"


def reply_fields(reply: Reply) -> dict:
    """The bot's own fields beside OpenAI's: those of `POST /api/ask` but the answer, plus
    confidence and generator."""
    fields = {k: v for k, v in reply_to_json(reply).items() if k != "answer"}
    return {**fields, "confidence": reply.confidence, "generator": reply.generator}


def usage(prompt_tokens: int, reply: Reply) -> dict:
    # The project's one estimate: the bot has no single tokenizer (the generator may be extractive).
    completion_tokens = estimate_tokens(reply.answer)
    return {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens}


def completion_json(reply: Reply, prompt_tokens: int) -> dict:
    """A `chat.completion` object for the reply."""
    return {
        "id": completion_id(), "object": "chat.completion", "created": int(time.time()), "model": MODEL_ID,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": reply.answer},
                     "finish_reason": "stop", "logprobs": None}],
        "usage": usage(prompt_tokens, reply),
        **reply_fields(reply),
    }


class ChunkWriter:
    """`chat.completion.chunk` objects of one streamed answer, each as a server-sent event."""

    def __init__(self) -> None:
        self.id, self.created = completion_id(), int(time.time())

    def event(self, delta: dict | None, finish_reason: str | None = None, **extra: object) -> str:
        choices = [] if delta is None else [{"index": 0, "delta": delta, "finish_reason": finish_reason,
                                             "logprobs": None}]
        chunk = {"id": self.id, "object": "chat.completion.chunk", "created": self.created,
                 "model": MODEL_ID, "choices": choices, **extra}
        return server_sent_event(chunk)


def server_sent_event(data: dict | str) -> str:
    """One `data:` event; JSON has no raw newlines, so one line is enough."""
    return f"data: {data if isinstance(data, str) else json.dumps(data, ensure_ascii=False)}\n\n"


def error_json(message: str, kind: str = "invalid_request_error", param: str | None = None,
               code: str | None = None) -> dict:
    """OpenAI's error object: `{"error": {"message", "type", "param", "code"}}`."""
    return {"error": {"message": message, "type": kind, "param": param, "code": code}}
