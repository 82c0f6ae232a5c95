"""The remote generator: a chat-completions call to an OpenAI-compatible server (vLLM, TGI,
llama.cpp's server, OpenAI itself, or another instance of this bot's own `/v1` API).

    >>> generator = RemoteGenerator("http://gpu-box:8000/v1", RemoteOptions(model="Qwen/Qwen2.5-7B-Instruct"))
    >>> generator.name                                   # nothing is contacted yet
    'openai:Qwen/Qwen2.5-7B-Instruct@http://gpu-box:8000/v1'

The prompt is the chat the local model gets (`Generator.prompt`, trimmed to the context window by the
estimate, built once per turn and handed to `stream`), sent greedy
(temperature 0). The `openai` SDK does the HTTP: streaming, the timeout, and retries with
back-off of connection errors, 408, 409, 429 and 5xx answers. Whatever still fails is raised as
a `GeneratorError` that names the server and the cause (never the API key); the engine then
answers with the best entry.

`openai` is imported inside methods: `import chatbot` stays light.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from pydantic import SecretStr

from chatbot.generators.base import Generator, GeneratorError, stripped_pieces
from chatbot.messages import GenerationRequest
from chatbot.stages.prompts import Prompt

if TYPE_CHECKING:
    from openai import OpenAI

log = logging.getLogger(__name__)

# The SDK refuses to start without some key; servers without authentication (vLLM and TGI by
# default) ignore the header it is sent in.
NO_KEY = "no-key"
_SERVER_MESSAGE_CHARS = 160  # of an error answer's message, quoted in the GeneratorError


@dataclass(frozen=True)
class RemoteOptions:
    """How to talk to the server: the model to ask for ("" = the first the server lists), the API
    key, seconds to connect or to wait for the next piece, and retries before giving up."""

    model: str = ""
    api_key: SecretStr | None = field(default=None, repr=False)
    timeout_s: float = 30.0
    max_retries: int = 2


def parse_base_url(url: str) -> str:
    """`url` checked and without its trailing slash: http(s), a host, no credentials in it.

    Raises ValueError saying what is wrong: "openai:gpu-box:8000" lacks the scheme, and a key
    belongs in the `openai_api_key` setting, not in a URL that is shown in logs and traces.
    """
    text = (url or "").strip()
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"generator 'openai:{text}': the base URL must be http(s)://host[:port]/path, "
                         "e.g. 'openai:http://127.0.0.1:8000/v1'")
    if parts.username or parts.password:
        raise ValueError("generator 'openai:…': put the API key in CHATBOT_OPENAI_API_KEY, not in the URL")
    try:
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number or out of range
    except ValueError:
        raise ValueError(f"generator 'openai:{text}': the port is not a number from 1 to 65535") from None
    return text.rstrip("/")


class RemoteGenerator(Generator):
    """Streams answers from an OpenAI-compatible `/chat/completions` endpoint at `base_url`."""

    def __init__(self, base_url: str, options: RemoteOptions = RemoteOptions(), max_new_tokens: int = 160) -> None:
        self.base_url = parse_base_url(base_url)
        self.options = options
        self.max_new_tokens = max_new_tokens
        self._model = options.model.strip()
        self._client: OpenAI | None = None
        self._lock = threading.Lock()

    @property
    def name(self) -> str:  # type: ignore[override]  # the model is known once the server named it
        return f"openai:{self._model or '?'}@{self.base_url}"

    def warm_up(self) -> None:
        """Create the client and, without a model setting, ask the server which model it serves.

        A server that is down is logged, not raised: it may come up later, and until it does the
        engine answers with the best entry.
        """
        try:
            self.model()
        except GeneratorError as error:
            log.warning("%s", error)

    def model(self) -> str:
        """The model asked for: the setting, or the first model the server lists (asked once)."""
        if not self._model:
            with self._errors("list its models"):
                ids = [model.id for model in self._openai().models.list()]
            if not ids:
                raise GeneratorError(f"the generator server at {self.base_url} lists no model: "
                                     "set CHATBOT_GENERATOR_MODEL")
            self._model = ids[0]
        return self._model

    def stream(self, prompt: Prompt) -> Iterator[str]:
        with self._errors("answer"):
            chunks = self._openai().chat.completions.create(stream=True, **self._arguments(prompt))
        # Once pieces flow nothing is retried: the customer has already seen them.
        with chunks, self._errors("answer", midway=True):
            yield from stripped_pieces(
                choice.delta.content for chunk in chunks for choice in chunk.choices[:1]
                if choice.delta is not None and choice.delta.content)

    def generate(self, request: GenerationRequest) -> str:
        """The whole answer in one (non-streamed) response."""
        with self._errors("answer"):
            completion = self._openai().chat.completions.create(**self._arguments(self.prompt(request)))
        choices = completion.choices
        return (choices[0].message.content or "").strip() if choices else ""

    def _arguments(self, prompt: Prompt) -> dict[str, Any]:
        # Greedy: the answer must repeat the entries' facts, not vary them.
        return {"model": self.model(), "messages": prompt.messages, "temperature": 0,
                "max_tokens": max(1, min(prompt.request.max_new_tokens, self.max_new_tokens))}

    def _openai(self) -> "OpenAI":
        with self._lock:
            if self._client is None:
                from openai import OpenAI

                key = self.options.api_key.get_secret_value() if self.options.api_key else NO_KEY
                self._client = OpenAI(base_url=self.base_url, api_key=key or NO_KEY,
                                      timeout=self.options.timeout_s, max_retries=self.options.max_retries)
            return self._client

    @contextmanager
    def _errors(self, doing: str, midway: bool = False) -> Iterator[None]:
        """Raise what the SDK raised as a `GeneratorError` that says where, what and why."""
        import openai

        where = f"the generator server at {self.base_url}"
        tries = f"{self.options.max_retries + 1} attempt(s)"
        try:
            yield
        except openai.APITimeoutError:
            message = (f"{where} sent nothing for {self.options.timeout_s:g} s in the middle of its answer" if midway
                       else f"{where} did not {doing} within {self.options.timeout_s:g} s ({tries})")
        except openai.APIConnectionError as error:
            message = (f"{where} broke off its answer: {_root_cause(error)}" if midway
                       else f"cannot reach {where} ({tries}): {_root_cause(error)}")
        except openai.APIStatusError as error:
            message = f"{where} refused to {doing}: HTTP {error.status_code} {_server_message(error)}"
        except openai.OpenAIError as error:  # e.g. an answer that is not the chat-completions format
            message = f"{where} failed to {doing}: {_root_cause(error)}"
        else:
            return
        raise GeneratorError(self._without_key(message)) from None

    def _without_key(self, message: str) -> str:
        # A server may echo the request's headers in its error text.
        key = self.options.api_key.get_secret_value() if self.options.api_key else ""
        return message.replace(key, "***") if key else message


def _root_cause(error: BaseException) -> str:
    """The innermost exception's text ("[Errno 111] Connection refused"), or its type's name."""
    while error.__cause__ is not None or error.__context__ is not None:
        error = error.__cause__ or error.__context__  # type: ignore[assignment]
    return str(error) or type(error).__name__


def _server_message(error: Any) -> str:
    """The message of an error answer (`{"error": {"message": …}}` as OpenAI and vLLM send it,
    `{"error": "…"}` as TGI does), shortened; the HTTP reason when the body is not JSON (HTML)."""
    body = error.body  # the SDK's: a JSON answer's "error" value, else the raw text
    if isinstance(body, dict):
        body = body.get("message", body)
    json_answer = error.response.headers.get("content-type", "").startswith("application/json")
    text = str(body) if json_answer and body is not None else error.response.reason_phrase
    return " ".join(text.split())[:_SERVER_MESSAGE_CHARS]
