"""One customer turn: guard → language → retrieve → decide → generate → ground → reply → log.

    >>> engine = ChatEngine(settings, retriever, generator, store)
    >>> reply = engine.respond(None, "How long does shipping take?")
    >>> reply.answer, [c.entry_id for c in reply.citations]

`stream()` yields the answer's text, then the finished `Reply`; `respond()` is the same without
the text. Both log the turn before returning the `Reply`.

A generated answer is held back until the grounding check (`chatbot.stages.grounding`) has passed it;
one that fails is replaced by the extractive answer (the top entry's own text), and the trace
records why. Held back rather than streamed and retracted: every consumer of `stream()` (the chat
page, the HTTP API, an OpenAI-compatible stream, whose chunks cannot be taken back) then shows
only checked text, at the cost of the first words arriving with the last.
A generator that fails (a remote server down) costs the customer no answer either: the best
entry's answer is given instead, and the trace's generator says why.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Iterator

from chatbot.conversations.ids import new_conversation_id
from chatbot.errors import InvalidInput
from chatbot.stages.canned import canned_reply, offers_human
from chatbot.stages.clarify import Band, clarify_options, decide_action
from chatbot.stages.smalltalk import conversation_move
from chatbot.generators.base import Generator, GeneratorError
from chatbot.generators.extractive import ExtractiveGenerator
from chatbot.stages.grounding import GroundingChecker, citation_numbers
from chatbot.stages.guard import GuardResult, check_message
from chatbot.stages.language import detect_language
from chatbot.messages import ChatMessage, Citation, GenerationRequest, GroundingResult, Option, Reply
from chatbot.stages.prompts import PromptBudgetError
from chatbot.stages.rewrite import follow_up_context
from chatbot.settings import Settings
from knowledge_base.retrieval.retriever import Hit, Retriever
from knowledge_base.storable import storable

if TYPE_CHECKING:
    from chatbot.conversations.store import ConversationStore

log = logging.getLogger(__name__)

# A hit in the customer's language wins over a slightly better hit in another language.
SAME_LANGUAGE_MARGIN = 0.05
# Used when neither the setting nor a calibration (it needs entries with alternates) gives one;
# suits all-MiniLM-L6-v2's cosine scale.
FALLBACK_THRESHOLD = 0.5
GENERATOR_NAME_CHARS = 200  # the trace's generator column
GENERATOR_FAILED = "generator failed: "


@dataclass(frozen=True)
class Decision:
    """What the engine decided before generating: abstain (or refuse), or answer from `hits`."""

    checked: GuardResult
    language: str
    hits: list[Hit]
    confidence: float
    abstained: bool
    query: str = ""  # what was retrieved for: the cleaned text, or its standalone rewrite
    action: str = ""  # "answer" | "clarify" | "abstain" (`chatbot.stages.clarify`); "" when refused
    options: tuple[Option, ...] = ()  # the choices of a clarification


class _Clock:
    """Per-step wall-clock timings in milliseconds."""

    def __init__(self) -> None:
        self.timings: dict[str, float] = {}
        self._last = time.perf_counter()

    def lap(self, step: str) -> None:
        now = time.perf_counter()
        self.timings[step] = round(self.timings.get(step, 0.0) + (now - self._last) * 1000, 3)
        self._last = now


def prefer_language(hits: list[Hit], language: str, margin: float = SAME_LANGUAGE_MARGIN) -> list[Hit]:
    """Move the best hit written in `language` to the top if it is within `margin` of the best."""
    if not hits or hits[0].entry.language in ("", language):
        return hits
    for i, hit in enumerate(hits[1:], start=1):
        if hit.entry.language == language and hit.score >= hits[0].score - margin:
            return [hit, *hits[:i], *hits[i + 1:]]
    return hits


def cited_hits(answer: str, hits: list[Hit]) -> list[Citation]:
    """The entries the answer cites as [n]; the top entry when it cites none (extractive)."""
    numbers = sorted(n for n in citation_numbers(answer) if 1 <= n <= len(hits))
    chosen = numbers or [1]
    return [Citation(n, hits[n - 1].entry.id, hits[n - 1].entry.question,
                     round(hits[n - 1].score, 4), hits[n - 1].entry.url) for n in chosen]


def grounding_checker(settings: Settings) -> GroundingChecker:
    """The grounding check that `settings` configure (with its NLI model, if one is named)."""
    nli = None
    if settings.nli_model:
        from chatbot.stages.nli import NliModel

        nli = NliModel(settings.nli_model, settings.device)
    return GroundingChecker(settings.grounding_min_overlap, nli, settings.nli_threshold)


class ChatEngine:
    """Answers customer turns from the knowledge base and logs every turn."""

    def __init__(self, settings: Settings, retriever: Retriever, generator: Generator,
                 store: "ConversationStore", channel: str = "web",
                 grounding: GroundingChecker | None = None) -> None:
        self.settings = settings
        self.retriever = retriever
        self.generator = generator
        self.store = store
        self.channel = channel
        self.grounding = grounding or grounding_checker(settings)

    def warm_up(self) -> None:
        """Load the embedder, the index snapshot, the generator's model and any NLI model."""
        self.retriever.warm_up()
        self.generator.warm_up()
        self.grounding.warm_up()

    def decide(self, text: str, clock: _Clock | None = None, top_k: int | None = None,
               history: list[ChatMessage] | None = None) -> Decision:
        """Guard, detect the language, rewrite a follow-up with the `history`, retrieve `top_k`
        entries (default: the setting), and decide whether to answer. Logs nothing."""
        settings = self.settings
        clock = clock or _Clock()
        checked = check_message(text, settings.max_message_chars)
        language = detect_language(checked.text, settings.language_seed) if checked.text else "en"
        clock.lap("guard")
        if not checked.ok:
            return Decision(checked, language, [], 0.0, True)
        context = follow_up_context(checked.text, history or [])
        query = f"{context} {checked.text}" if context else checked.text
        clock.lap("rewrite")
        hits = prefer_language(self.retriever.search(checked.text, top_k or settings.top_k,
                                                       settings.lexical_weight, context=context), language)
        clock.lap("retrieve")
        confidence = hits[0].score if hits else 0.0
        action = decide_action(hits, self.band)
        options = tuple(clarify_options(hits)) if action == "clarify" else ()
        clock.lap("decide")
        return Decision(checked, language, hits, confidence, action == "abstain", query, action, options)

    @property
    def band(self) -> Band:
        """Answer / clarify / abstain thresholds (`chatbot.stages.clarify`): the settings where
        given, else the band calibrated when the index was built; with clarification off, or
        no band calibrated, the plain answer threshold."""
        settings = self.settings
        answer = self.answer_threshold
        if not settings.clarify:
            return Band(answer, answer, 0.0)
        calibrated = self.retriever.snapshot().manifest.clarify or {}
        if settings.answer_threshold is None and calibrated.get("answer") is not None:
            answer = max(answer, calibrated["answer"])  # the band answers at its own, stricter line
        clarify = settings.clarify_threshold if settings.clarify_threshold is not None else calibrated.get("clarify", answer)
        margin = settings.clarify_margin if settings.clarify_margin is not None else calibrated.get("margin", 0.0)
        return Band(answer, min(clarify, answer), margin)

    @property
    def answer_threshold(self) -> float:
        """The setting if given, else the threshold calibrated when the index was built."""
        if self.settings.answer_threshold is not None:
            return self.settings.answer_threshold
        calibrated = self.retriever.snapshot().manifest.answer_threshold
        return FALLBACK_THRESHOLD if calibrated is None else calibrated

    def respond(self, conversation_id: str | None, text: str,
                history: list[ChatMessage] | None = None, choice: str | None = None) -> Reply:
        """Answer one turn; returns the logged `Reply`. `history`, `choice`: as in `stream`."""
        reply = None
        for event in self.stream(conversation_id, text, history, choice=choice):
            if isinstance(event, Reply):
                reply = event
        assert reply is not None
        return reply

    def stream(self, conversation_id: str | None, text: str,
               history: list[ChatMessage] | None = None, new_id: str | None = None,
               choice: str | None = None) -> Iterator[str | Reply]:
        """Yield the answer's text (str) once it has passed the grounding check (or the extractive
        answer that replaced it), then the finished, logged `Reply`.

        `history`: the earlier messages as the caller has them (an OpenAI-style request carries
        its own), used instead of the stored conversation's; they pass the guard like a turn.
        `conversation_id` None starts a conversation: its row is written with the turn's log (a
        refused or failed turn leaves no empty conversation behind), under `new_id` when the
        caller issued one already (`chatbot.conversations.ids.new_conversation_id`, e.g. to
        name it before the answer is ready), else under an id issued here.
        Any text is answered: a lone surrogate or NUL is logged as U+FFFD (the store's
        boundary) and never reaches the answer. Raises `InvalidConversation` and the database
        errors of `chatbot.errors` at the first `next()`, before anything is yielded.

        Before retrieval, small talk is answered briefly and a request for a person (or a yes to
        the offer of one) hands the conversation off (`chatbot.stages.smalltalk`). `choice`
        answers the conversation's last clarification: an entry id among its options (answered
        from that entry, and stored as the customer's label of the clarified question), or
        "none" (a human is offered); any other value is `InvalidInput`.
        """
        settings = self.settings
        clock = _Clock()
        fresh = conversation_id is None
        if fresh:
            # Checked before any work: a turn that could not be logged is not answered.
            self.store.check_reachable()
            conversation_id = new_id or new_conversation_id()
        else:
            # An id the server did not issue is InvalidConversation, never adopted.
            conversation_id = self.store.ensure_conversation(conversation_id, self.channel)
        clock.lap("session")

        supplied = history is not None
        if history is None:
            history = [] if fresh else self.store.history(conversation_id, settings.history_turns)
        else:
            history = self.screen_history(history)
        if choice is not None:
            yield from self._chosen(conversation_id, text, choice, history, clock)
            return
        move = conversation_move(text, self._offered_human(conversation_id, fresh, supplied, history))
        if move is not None:
            yield from self._canned(conversation_id, text, *move, clock, fresh)
            return
        decision = self.decide(text, clock, history=history)
        checked, language, hits = decision.checked, decision.language, decision.hits
        kb_version = self.retriever.kb_version
        if decision.abstained or decision.action == "clarify":
            kind = checked.problem or decision.action or "abstain"
            answer = canned_reply(kind, language, checked.detail)
            yield answer
            reply = Reply(conversation_id, answer, kind != "clarify", language, [], round(decision.confidence, 4),
                          "guard" if checked.problem else kind, kb_version, clock.timings,
                          rejected=checked.problem, query=decision.query or checked.text, hits=hits,
                          action="clarify" if kind == "clarify" else "", options=list(decision.options))
            self._log(conversation_id, text, reply, fresh)
            yield reply
            return
        yield from self._answered(conversation_id, text, checked.text, language, hits, decision.confidence,
                                  history, clock, decision.query, fresh)

    def _answered(self, conversation_id: str, text: str, question: str, language: str, hits: list[Hit],
                  confidence: float, history: list[ChatMessage], clock: _Clock, query: str,
                  fresh: bool) -> Iterator[str | Reply]:
        """Generate from `hits`, check the grounding, yield the answer and the logged `Reply`."""
        settings = self.settings
        kb_version = self.retriever.kb_version
        request = GenerationRequest(question, language, hits, history, settings.max_new_tokens,
                                    settings.context_window)
        generated, given, failure = self._generate(request)
        clock.lap("generate")
        grounding = (GroundingResult(False, (failure,), overlap=0.0) if failure else
                     self.grounding.check(generated, given, language))
        name = self.generator.name
        if failure.startswith(GENERATOR_FAILED):
            # The backend itself failed (a remote server down): say so where the model is named.
            name = f"extractive (fallback: {failure.removeprefix(GENERATOR_FAILED)})"[:GENERATOR_NAME_CHARS]
        answer, replaced = generated, ""
        if not grounding.grounded and not isinstance(self.generator, ExtractiveGenerator):
            answer, replaced, given = ExtractiveGenerator().generate(request), generated, hits
        clock.lap("ground")
        yield answer  # one piece: only checked text leaves the engine (see the module's docstring)
        reply = Reply(conversation_id, answer, False, language, cited_hits(answer, given), round(confidence, 4),
                      name, kb_version, clock.timings, query=query, hits=hits,
                      grounding=grounding, replaced_answer=replaced)
        self._log(conversation_id, text, reply, fresh)
        yield reply

    def _offered_human(self, conversation_id: str, fresh: bool, supplied: bool,
                       history: list[ChatMessage]) -> bool:
        """Whether the bot's previous turn offered a person: the stored turn's decision, or the
        last assistant message of a caller-supplied history."""
        if supplied:
            previous = next((m.content for m in reversed(history) if m.role == "assistant"), "")
            return offers_human(previous)
        last = None if fresh else self.store.last_turn(conversation_id)
        return last is not None and last.decision == "abstain"

    def _canned(self, conversation_id: str, text: str, action: str, kind: str, language: str,
                clock: _Clock, fresh: bool) -> Iterator[str | Reply]:
        """A small-talk or hand-off reply (`conversation_move`'s), logged like any turn."""
        answer = canned_reply(kind, language)
        yield answer
        clock.lap("decide")
        reply = Reply(conversation_id, answer, action == "handoff", language, [], 0.0, action,
                      self.retriever.kb_version, clock.timings, query=storable(text.strip()), action=action)
        self._log(conversation_id, text, reply, fresh)
        yield reply

    def _chosen(self, conversation_id: str, text: str, choice: str, history: list[ChatMessage],
                clock: _Clock) -> Iterator[str | Reply]:
        """Answer the customer's choice among the last clarification's options (see `stream`)."""
        clarified = self.store.last_turn(conversation_id, "clarify")
        if clarified is None:
            raise InvalidInput("This conversation has no clarification to choose from: "
                               "send a message instead of a choice.")
        if choice != "none" and choice not in clarified.entry_ids:
            raise InvalidInput(f"The choice {choice[:128]!r} is not an option of this conversation's last "
                               f"clarification; choose one of {', '.join(clarified.entry_ids)} or 'none'.")
        language = clarified.language or "en"
        if choice == "none":
            answer = canned_reply("none_of_these", language)
            yield answer
            reply = Reply(conversation_id, answer, True, language, [], 0.0, "abstain", self.retriever.kb_version,
                          clock.timings, query=clarified.query, action="abstain")
            self._log(conversation_id, text.strip() or canned_reply("none_label", language), reply, False)
            yield reply
            return
        entry = self.retriever.snapshot().entries.get(choice)
        if entry is None:
            raise InvalidInput(f"The entry {choice!r} is no longer in the knowledge base: ask the question again.")
        score = clarified.scores[clarified.entry_ids.index(choice)] if clarified.scores else 0.0
        hits = [Hit(entry, score, entry.question)]
        for event in self._answered(conversation_id, text.strip() or entry.question, clarified.query or entry.question,
                                    language, hits, score, history, clock, clarified.query, False):
            if isinstance(event, Reply):
                # The customer's choice is a free label of the question that was clarified.
                self.store.label_turn(clarified.turn_id, choice, labelled_by="customer")
            yield event

    def _generate(self, request: GenerationRequest) -> tuple[str, list[Hit], str]:
        """The generator's whole answer, the hits its prompt gave it, and why it wrote nothing
        (a prompt over budget) or ""."""
        try:
            prompt = self.generator.prompt(request)  # built once; the generator streams this very prompt
            # Storable text only: a remote model's JSON may hold a lone surrogate, which no
            # response (UTF-8) nor the log could carry.
            return storable("".join(self.generator.stream(prompt)).strip()), prompt.hits, ""
        except PromptBudgetError as error:
            return "", request.hits, f"the prompt does not fit the context window: {error}"
        except GeneratorError as error:
            log.warning("generator %s failed, answering with the best entry: %s", self.generator.name, error)
            return "", request.hits, f"{GENERATOR_FAILED}{error}"

    def screen_history(self, history: list[ChatMessage]) -> list[ChatMessage]:
        """The last `history_turns` turns of caller-supplied messages: customer and assistant
        messages only, cleaned by the guard; ones it refuses are left out, as in the store's."""
        kept = []
        for message in history:
            checked = check_message(message.content, self.settings.max_message_chars)
            if message.role in ("user", "assistant") and checked.ok:
                kept.append(ChatMessage(message.role, checked.text))
        return kept[-2 * self.settings.history_turns:] if self.settings.history_turns else []

    def _log(self, conversation_id: str, user_text: str, reply: Reply, fresh: bool) -> None:
        # The raw text is capped so a 1 MB message cannot bloat the log; the guard already refused it.
        # A fresh conversation's row is written with its first turn, on this engine's channel.
        self.store.log_turn(conversation_id, user_text[: self.settings.max_message_chars], reply,
                            channel=self.channel if fresh else "unknown")
