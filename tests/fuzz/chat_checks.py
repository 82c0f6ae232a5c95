"""Sending fuzzed chat requests to a live server and checking every answer, and checking that
the conversations already stored never change (turns are only appended, one per 200).

    run = ChatRun(http, problems, store, catcher)
    run.send(render(case, "/api/ask", run.real_ids, pick))
    run.check_conversations()
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field

import httpx
from chat_inputs import HttpRequest
from fuzz_problems import Problems, TracebackCatcher

from chatbot.conversations.ids import is_conversation_id
from chatbot.conversations.store import ConversationStore

# Conversations the fuzzer may continue by id (REAL): enough to spread turns, few to keep it quick.
MAX_POOL = 64
# A 4xx answer says what is wrong; it need not carry the (up to 1 MB) input back.
MAX_ERROR_BODY_BYTES = 16 * 1024


def error_message(body: object) -> str:
    """The message of an error body in either door's shape (`{"detail": str | [{"msg"}]}` for
    /api, OpenAI's `{"error": {"message"}}` for /v1), or "" when it has none."""
    if not isinstance(body, dict):
        return ""
    detail = body.get("detail")
    if isinstance(detail, str):
        return detail.strip()
    if isinstance(detail, list) and detail and all(isinstance(d, dict) and isinstance(d.get("msg"), str)
                                                   and d["msg"].strip() for d in detail):
        return "; ".join(d["msg"] for d in detail)
    error = body.get("error")
    if isinstance(error, dict) and isinstance(error.get("message"), str):
        return error["message"].strip()
    return ""


def _utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


@dataclass
class ChatRun:
    """The state of one fuzz run against one server: what was sent, what each conversation
    should hold, and the problems found."""

    http: httpx.Client
    problems: Problems
    store: ConversationStore
    catcher: TracebackCatcher
    sent: Counter = field(default_factory=Counter)  # requests sent, by endpoint
    statuses: Counter = field(default_factory=Counter)
    answered: int = 0  # 200s: each is one turn logged
    real_ids: list[str] = field(default_factory=list)  # conversations the server issued
    snapshots: dict[str, list[tuple[str, str]]] = field(default_factory=dict)
    _appended: Counter = field(default_factory=Counter)  # turns answered since the last check
    _touched: set[str] = field(default_factory=set)

    def seed(self, question: str) -> None:
        """Start a real conversation with a plain question (it must be answered) for the
        fuzzer to continue."""
        response = self.http.post("/api/ask", json={"message": question})
        assert response.status_code == 200, response.text
        conversation = response.json()["conversation_id"]
        self.real_ids.append(conversation)
        self.answered += 1
        self._appended[conversation] += 1
        self._touched.add(conversation)

    def send(self, request: HttpRequest) -> None:
        """Send one request and check its answer; problems are recorded, never raised."""
        self.catcher.current = request.reproduction().decode("utf-8", "backslashreplace")[:2000]
        where = request.endpoint
        if request.conversation_sent:
            self._touched.add(request.conversation_sent)
        try:
            with self.http.stream("POST", request.path, headers=request.headers,
                                  content=request.content()) as response:
                self.sent[where] += 1
                self.statuses[response.status_code] += 1
                if response.status_code == 200 and request.streaming:
                    self._check_stream(request, response)
                else:
                    response.read()
                    self._check_plain(request, response)
        except httpx.LocalProtocolError:
            # h11 refused to send it (no server saw it): not an input, not a finding.
            self.sent["unsendable"] += 1
        except httpx.TransportError as error:
            self.problems.add(where, "connection error", f"{type(error).__name__}: {str(error)[:100]}",
                              request.reproduction())

    def _check_plain(self, request: HttpRequest, response: httpx.Response) -> None:
        where, status, repro = request.endpoint, response.status_code, request.reproduction()
        try:
            body = response.json()
        except ValueError:
            body = None
        if status >= 500:
            detail = error_message(body) or response.text[:120]
            self.problems.add(where, f"status {status}", detail, repro)
            return
        if 400 <= status < 500:
            message = error_message(body)
            if not message:
                self.problems.add(where, f"status {status} without a JSON message",
                                  response.text[:120], repro)
            elif len(response.content) > MAX_ERROR_BODY_BYTES:
                self.problems.add(where, f"status {status} echoes the input",
                                  f"{len(response.content)} bytes: {message[:80]}", repro)
            elif "Traceback" in message:
                self.problems.add(where, f"status {status} shows a traceback", message[-120:], repro)
            return
        if status != 200:
            self.problems.add(where, f"status {status}", response.text[:120], repro)
            return
        if not isinstance(body, dict):
            self.problems.add(where, "200 without a JSON object", response.text[:120], repro)
            return
        if request.endpoint == "/api/ask":
            answer, conversation = body.get("answer"), body.get("conversation_id")
        else:
            choices = body.get("choices") or [{}]
            answer = (choices[0].get("message") or {}).get("content")
            conversation = body.get("conversation_id")
            if response.headers.get("x-conversation-id") != conversation:
                self.problems.add(where, "200 whose X-Conversation-Id is not its conversation_id", "", repro)
        self._answered(request, answer, conversation)

    def _check_stream(self, request: HttpRequest, response: httpx.Response) -> None:
        where, repro = request.endpoint, request.reproduction()
        events: list[str] = []
        for line in response.iter_lines():
            if line.startswith("data: "):
                events.append(line[len("data: "):])
            elif line.strip():
                self.problems.add(where, "stream line that is not an event", line[:80], repro)
        if not events or events[-1] != "[DONE]":
            self.problems.add(where, "stream that does not end with [DONE]", (events or [""])[-1][:120], repro)
        answer, conversation = "", None
        for event in events:
            if event == "[DONE]":
                continue
            try:
                chunk = json.loads(event)
            except ValueError:
                self.problems.add(where, "stream event that is not JSON", event[:80], repro)
                continue
            if "error" in chunk:
                self.problems.add(where, "error event in a 200 stream", error_message(chunk)[:120], repro)
                return
            for choice in chunk.get("choices") or []:
                answer += (choice.get("delta") or {}).get("content") or ""
            conversation = chunk.get("conversation_id", conversation)
        if response.headers.get("x-conversation-id") != conversation:
            self.problems.add(where, "stream whose X-Conversation-Id is not its conversation_id", "", repro)
        self._answered(request, answer, conversation)

    def _answered(self, request: HttpRequest, answer: object, conversation: object) -> None:
        """A 200: a text answer, a conversation id, and one more turn in that conversation."""
        where, repro = request.endpoint, request.reproduction()
        if not isinstance(answer, str):
            self.problems.add(where, "200 without a text answer", repr(answer)[:80], repro)
        elif not _utf8(answer):
            self.problems.add(where, "answer holds a lone surrogate", "", repro)
        if not is_conversation_id(conversation):
            self.problems.add(where, "200 without a conversation id", repr(conversation)[:80], repro)
            return
        if request.conversation_sent and conversation != request.conversation_sent:
            self.problems.add(where, "answered in another conversation than the one named", "", repro)
        self.answered += 1
        self._appended[conversation] += 1
        self._touched.add(conversation)
        if conversation not in self.snapshots and len(self.real_ids) < MAX_POOL:
            self.real_ids.append(conversation)

    def check_conversations(self, everything: bool = False) -> None:
        """Each conversation touched since the last check (or every one known) holds what it held,
        plus two messages per turn answered since; nothing before them changed."""
        ids = (set(self.snapshots) | self._touched) if everything else set(self._touched)
        for conversation in sorted(ids):
            before = self.snapshots.get(conversation, [])
            transcript = self.store.get_transcript(conversation)
            now = [(m.role, m.content) for m in transcript.messages] if transcript else []
            expected = len(before) + 2 * self._appended[conversation]
            where = f"conversation store ({'known' if before else 'new'} conversation)"
            if now[:len(before)] != before:
                self.problems.add(where, "turns already stored changed", conversation, conversation)
            elif len(now) != expected:
                self.problems.add(where, "turns stored do not match the turns answered",
                                  f"{len(now)} messages, expected {expected}", conversation)
            if transcript is not None:
                self.snapshots[conversation] = now
        self._appended.clear()
        self._touched.clear()
