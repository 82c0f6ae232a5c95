"""Dataclasses that travel between the engine's steps and out to the UI, API and log.

Stages import these; this module imports no stage, so that any stage can hand its result to
any other without the two importing each other.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from knowledge_base.retrieval.hits import Hit


@dataclass(frozen=True, slots=True)
class ChatMessage:
    """One message of a conversation, as a chat template wants it."""

    role: str  # "user" | "assistant" | "system"
    content: str


@dataclass(frozen=True, slots=True)
class GenerationRequest:
    """Everything a generator needs to write one answer."""

    query: str
    language: str
    hits: list[Hit]
    history: list[ChatMessage] = field(default_factory=list)
    max_new_tokens: int = 160
    # Tokens of prompt + answer; None: the model's own window (see Generator.prompt_budget).
    context_window: int | None = None


@dataclass(frozen=True, slots=True)
class GroundingResult:
    """The grounding check's verdict on one answer (`chatbot.stages.grounding`); `reasons` says in
    words why it is not grounded (empty if it is)."""

    grounded: bool
    reasons: tuple[str, ...] = ()
    cited: tuple[int, ...] = ()  # the entry numbers the answer was checked against
    unsupported_numbers: tuple[str, ...] = ()
    invalid_citations: tuple[int, ...] = ()
    overlap: float = 1.0  # share of the answer's content terms found in the sources
    entailment: float | None = None  # the NLI model's probability, when one is configured


@dataclass(frozen=True, slots=True)
class Citation:
    """An entry the answer is based on; `number` is its [n] in the prompt."""

    number: int
    entry_id: str
    question: str
    score: float
    url: str = ""


@dataclass(frozen=True, slots=True)
class Option:
    """One choice of a clarification ("Did you mean …?"): an entry, its question in the customer's
    language."""

    entry_id: str
    question: str


# What the bot did with a turn (DESIGN.md "Contracts"): answered it; asked which of `options` the
# customer meant; abstained and offered a human; handed the conversation to a human; small talk.
ACTIONS = ("answer", "clarify", "abstain", "handoff", "smalltalk")


@dataclass(slots=True)
class Reply:
    """The engine's answer to one customer turn, with its provenance."""

    conversation_id: str
    answer: str
    abstained: bool
    language: str
    citations: list[Citation]
    confidence: float
    generator: str
    kb_version: int
    timings_ms: dict[str, float] = field(default_factory=dict)
    rejected: str = ""  # non-empty when the guard refused the message; says why
    query: str = ""  # the text that was retrieved for, after cleaning
    hits: list[Hit] = field(default_factory=list)
    # The grounding check of the generated answer (of the whole answer, or of the sentence that
    # failed it); None when nothing was generated (abstained).
    grounding: GroundingResult | None = None
    # The generated text that failed the check (from the failing sentence on) and was replaced by
    # the extractive answer; the customer never saw it (`chatbot.stages.release`).
    replaced_answer: str = ""
    # One of ACTIONS; "" means the plain answer/abstain decision (`abstained` says which).
    action: str = ""
    options: list[Option] = field(default_factory=list)  # the choices of a `clarify`
    # The logged turn's trace id (set by the engine once the turn is logged), for feedback on it;
    # None for a message relayed to staff while a human holds the conversation (no bot turn).
    turn_id: int | None = None

    @property
    def kind(self) -> str:
        """The action of DESIGN.md's contract: `action`, else "abstain" or "answer"."""
        return self.action or ("abstain" if self.abstained else "answer")

    @property
    def latency_ms(self) -> float:
        return round(sum(self.timings_ms.values()), 3)


def reply_to_json(reply: Reply) -> dict:
    """The reply as the `chatbot ask --json` / `POST /api/ask` object of DESIGN.md."""
    return {
        "answer": reply.answer,
        "abstained": reply.abstained,
        "language": reply.language,
        "sources": [{"id": c.entry_id, "question": c.question, "score": c.score} for c in reply.citations],
        "conversation_id": reply.conversation_id,
        "latency_ms": reply.latency_ms,
        "action": reply.kind,
        "options": [{"id": o.entry_id, "question": o.question} for o in reply.options],
        "turn_id": reply.turn_id,
    }
