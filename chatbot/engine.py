"""One customer turn: guard → language → retrieve → decide → generate → ground → reply → log.

    >>> engine = ChatEngine(settings, retriever, generator, store)
    >>> reply = engine.respond(None, "How long does shipping take?")
    >>> reply.answer, [c.entry_id for c in reply.citations]

`stream()` yields the answer's text, then the finished `Reply`; `respond()` is the same without
the text. Both log the turn before returning the `Reply`.

A generated answer is released sentence by sentence, each sentence once it has passed the
grounding check (`chatbot.stages.release`, `chatbot.stages.grounding`): the customer reads the
first sentence while the model writes the next, and never a sentence that failed. No consumer of
`stream()` (the chat page, the HTTP API, an OpenAI-compatible stream) can take a chunk back, so a
sentence that fails stops the model: what was shown stays, the best entry's answer (the
extractive answer) follows, or replaces it all when nothing was shown yet, and the trace records
the withheld text and why. The extractive generator's answer and abstentions come in one piece.
A generator that fails (a remote server down) costs the customer no answer either: the best
entry's answer is given instead, and the trace's generator says why.
"""

from __future__ import annotations

import logging
import time
import typing
from dataclasses import dataclass
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from chatbot.conversations.ids import check_turn_key, new_conversation_id
from chatbot.conversations.retries import answer_from_log
from chatbot.conversations.store import TurnAlreadyLogged
from chatbot.errors import InvalidInput
from chatbot.stages.canned import canned_reply, offers_human
from chatbot.stages.clarify import Band, clarify_options, decide_action
from chatbot.stages.smalltalk import conversation_move
from chatbot.generators.base import Generator, GeneratorError
from chatbot.generators.extractive import ExtractiveGenerator
from chatbot.stages.grounding import GroundingChecker, citation_numbers
from chatbot.stages.release import Released, SentenceRelease
from chatbot.stages.guard import GuardResult, check_message
from chatbot.stages.language import detect_language
from chatbot.messages import ChatMessage, Citation, GenerationRequest, Option, Reply
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

    def move(self, source: str, target: str, ms: float) -> None:
        """Count `ms` of `source`'s time as `target`'s (checks that ran between generated tokens)."""
        ms = min(ms, self.timings.get(source, 0.0))
        self.timings[source] = round(self.timings.get(source, 0.0) - ms, 3)
        self.timings[target] = round(self.timings.get(target, 0.0) + ms, 3)


def prefer_language(hits: list[Hit], language: str, margin: float = SAME_LANGUAGE_MARGIN) -> list[Hit]:
    """Move the best hit written in `language` to the top if it is within `margin` of the best."""
    if not hits or hits[0].entry.language in ("", language):
        return hits
    for i, hit in enumerate(hits[1:], start=1):
        if hit.entry.language == language and hit.score >= hits[0].score - margin:
            return [hit, *hits[:i], *hits[i + 1:]]
    return hits


def cited_hits(answer: str, hits: list[Hit], with_first: bool = False) -> list[Citation]:
    """The entries the answer cites as [n]; the top entry when it cites none (extractive), or
    `with_first` (the top entry's answer was given after checked generated sentences)."""
    numbers = {n for n in citation_numbers(answer) if 1 <= n <= len(hits)}
    chosen = sorted(numbers | {1} if with_first or not numbers else numbers)
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
                 grounding: GroundingChecker | None = None, live: Callable[[], Settings] | None = None) -> None:
        self._settings = settings
        self._live = live
        self.retriever = retriever
        self.generator = generator
        self.store = store
        self.channel = channel
        self.grounding = grounding or grounding_checker(settings)

    @property
    def settings(self) -> Settings:
        """The settings in force: `live()` when given (staff's changes, `chatbot.live_settings`)."""
        return self._live() if self._live is not None else self._settings

    def warm_up(self) -> None:
        """Load the embedder, the index snapshot, the generator's model and any NLI model."""
        self.retriever.warm_up()
        self.generator.warm_up()
        self.grounding.warm_up()

    def decide(self, text: str, clock: _Clock | None = None, top_k: int | None = None,
               history: list[ChatMessage] | None = None, language: str | None = None) -> Decision:
        """Guard, detect the language (unless `language` is given), rewrite a follow-up with the
        `history`, retrieve `top_k` entries (default: the setting), and decide whether to answer.
        Logs nothing."""
        settings = self.settings
        clock = clock or _Clock()
        checked = check_message(text, settings.max_message_chars)
        language = language or (detect_language(checked.text, settings.language_seed) if checked.text else "en")
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
                history: list[ChatMessage] | None = None, turn_key: str | None = None,
                visitor_hash: str | None = None, choice: str | None = None) -> Reply:
        """Answer one turn; returns the logged `Reply`. `history`, `turn_key`, `visitor_hash`,
        `choice`: as in `stream`."""
        reply = None
        for event in self.stream(conversation_id, text, history, turn_key=turn_key, visitor_hash=visitor_hash,
                                 choice=choice):
            if isinstance(event, Reply):
                reply = event
        assert reply is not None
        return reply

    def stream(self, conversation_id: str | None, text: str,
               history: list[ChatMessage] | None = None, new_id: str | None = None,
               turn_key: str | None = None, visitor_hash: str | None = None,
               choice: str | None = None) -> Iterator[str | Reply]:
        """Yield the answer's text (str) in pieces, each once it has passed the grounding check
        (a generated answer sentence by sentence; see the module's docstring), then the finished,
        logged `Reply`, whose `answer` is the pieces joined.

        `history`: the earlier messages as the caller has them (an OpenAI-style request carries
        its own), used instead of the stored conversation's; they pass the guard like a turn.
        `conversation_id` None starts a conversation: its row is written with the turn's log (a
        refused or failed turn leaves no empty conversation behind), under `new_id` when the
        caller issued one already (`chatbot.conversations.ids.new_conversation_id`, e.g. to
        name it before the answer is ready), else under an id issued here, and bound to the
        visitor of `visitor_hash` (`chatbot.conversations.visitors`; None: to none).
        While a human is asked for or holds the conversation the bot stays quiet: the message is
        logged for staff and the only event is a `Reply` with action "handoff" and no answer.
        Any text is answered: a lone surrogate or NUL is logged as U+FFFD (the store's
        boundary) and never reaches the answer. `turn_key`: the client's idempotency key of this
        turn (`check_turn_key`); a turn already logged under it is answered from the log, not
        logged again (a retry whose first answer was lost, the first turn of a conversation
        included). Raises `InvalidConversation`, `InvalidInput` (a malformed key, or one used for
        another message or conversation) and the database errors of `chatbot.errors` at the
        first `next()`, before anything is yielded.

        Before retrieval, small talk is answered briefly and a request for a person (or a yes to
        the offer of one) hands the conversation off (`chatbot.stages.smalltalk`). `choice`
        answers the conversation's last clarification: an entry id among its options (answered
        from that entry, and stored as the customer's label of the clarified question), or
        "none" (a human is offered); any other value is `InvalidInput`.
        """
        settings = self.settings
        clock = _Clock()
        fresh = conversation_id is None
        if turn_key is not None:
            logged = self.logged_turn(turn_key, conversation_id, text, visitor_hash)
            if logged is not None:
                yield logged.answer
                yield logged
                return
        if fresh:
            # Checked before any work: a turn that could not be logged is not answered.
            self.store.check_reachable()
            conversation_id = new_id or new_conversation_id()
        else:
            # An id the server did not issue is InvalidConversation, never adopted.
            conversation_id = self.store.ensure_conversation(conversation_id, self.channel)
            quiet = self._relay_to_staff(conversation_id, text, clock)
            if quiet is not None:
                yield quiet
                return
        clock.lap("session")

        supplied = history is not None
        if history is None:
            history = [] if fresh else self.store.history(conversation_id, settings.history_turns)
        else:
            history = self.screen_history(history)
        if choice is not None:
            yield from self._chosen(conversation_id, text, choice, history, clock, turn_key)
            return
        move = conversation_move(text, self._offered_human(conversation_id, fresh, supplied, history))
        if move is not None:
            yield from self._canned(conversation_id, text, *move, clock, fresh, turn_key, visitor_hash)
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
            yield self._log(conversation_id, text, reply, fresh, turn_key, visitor_hash)
            return
        yield from self._answered(conversation_id, text, checked.text, language, hits, decision.confidence,
                                  history, clock, decision.query, fresh, turn_key, visitor_hash)

    def _answered(self, conversation_id: str, text: str, question: str, language: str, hits: list[Hit],
                  confidence: float, history: list[ChatMessage], clock: _Clock, query: str,
                  fresh: bool, turn_key: str | None, visitor_hash: str | None) -> Iterator[str | Reply]:
        """Generate from `hits` sentence by sentence, each checked, then the logged `Reply`."""
        settings = self.settings
        kb_version = self.retriever.kb_version
        request = GenerationRequest(question, language, hits, history, settings.max_new_tokens,
                                    settings.context_window)
        best = ExtractiveGenerator().generate(request)
        if isinstance(self.generator, ExtractiveGenerator):  # one piece: the entry's own words
            released = Released(best, self.grounding.check(best, hits, language), "", 0.0)
            yield best
        else:
            released = yield from self._release(request, best)
        clock.lap("generate")
        clock.move("generate", "ground", released.check_ms)
        failure = next((r for r in released.grounding.reasons if r.startswith(GENERATOR_FAILED)), "")
        name = self.generator.name
        if failure:
            # The backend itself failed (a remote server down): say so where the model is named,
            # and whether sentences it wrote before it failed were shown.
            fallback = f"extractive (fallback: {failure.removeprefix(GENERATOR_FAILED)})"
            name = (fallback if released.answer == best else f"{name}, then {fallback}")[:GENERATOR_NAME_CHARS]
        answer = released.answer
        reply = Reply(conversation_id, answer, False, language, cited_hits(answer, hits, released.fell_back),
                      round(confidence, 4), name, kb_version, clock.timings, query=query, hits=hits,
                      grounding=released.grounding, replaced_answer=released.replaced)
        yield self._log(conversation_id, text, reply, fresh, turn_key, visitor_hash)

    def _release(self, request: GenerationRequest, best: str) -> typing.Generator[str, None, Released]:
        """Stream the generator's answer sentence by sentence as each passes the grounding check
        (`chatbot.stages.release`), the best entry's answer `best` replacing what fails; returns
        what was given out. A prompt over budget or a failing backend also falls back to `best`."""
        try:
            prompt = self.generator.prompt(request)  # built once; the generator streams this very prompt
        except PromptBudgetError as error:
            release = SentenceRelease(self.grounding, request.hits, request.language, best)
            yield from release.fail(f"the prompt does not fit the context window: {error}")
            return release.result()
        release = SentenceRelease(self.grounding, prompt.hits, request.language, best)
        pieces = self.generator.stream(prompt)
        try:
            for piece in pieces:
                yield from release.feed(piece)
                if release.stopped:
                    break
            else:
                yield from release.finish()
        except GeneratorError as error:
            log.warning("generator %s failed, answering with the best entry: %s", self.generator.name, error)
            yield from release.fail(f"{GENERATOR_FAILED}{error}")
        finally:
            close = getattr(pieces, "close", None)
            if close is not None:
                close()  # a failed sentence, or a customer who left: the model stops writing
        return release.result()

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
                clock: _Clock, fresh: bool, turn_key: str | None, visitor_hash: str | None) -> Iterator[str | Reply]:
        """A small-talk or hand-off reply (`conversation_move`'s), logged like any turn."""
        answer = canned_reply(kind, language)
        yield answer
        clock.lap("decide")
        reply = Reply(conversation_id, answer, action == "handoff", language, [], 0.0, action,
                      self.retriever.kb_version, clock.timings, query=storable(text.strip()), action=action)
        yield self._log(conversation_id, text, reply, fresh, turn_key, visitor_hash)

    def _chosen(self, conversation_id: str, text: str, choice: str, history: list[ChatMessage],
                clock: _Clock, turn_key: str | None) -> Iterator[str | Reply]:
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
            yield self._log(conversation_id, text.strip() or canned_reply("none_label", language), reply, False,
                            turn_key, None)
            return
        entry = self.retriever.snapshot().entries.get(choice)
        if entry is None:
            raise InvalidInput(f"The entry {choice!r} is no longer in the knowledge base: ask the question again.")
        score = clarified.scores[clarified.entry_ids.index(choice)] if clarified.scores else 0.0
        hits = [Hit(entry, score, entry.question)]
        for event in self._answered(conversation_id, text.strip() or entry.question, clarified.query or entry.question,
                                    language, hits, score, history, clock, clarified.query, False, turn_key, None):
            if isinstance(event, Reply):
                # The customer's choice is a free label of the question that was clarified.
                self.store.label_turn(clarified.turn_id, choice, labelled_by="customer")
            yield event

    def screen_history(self, history: list[ChatMessage]) -> list[ChatMessage]:
        """The last `history_turns` turns of caller-supplied messages: customer and assistant
        messages only, cleaned by the guard; ones it refuses are left out, as in the store's."""
        kept = []
        for message in history:
            checked = check_message(message.content, self.settings.max_message_chars)
            if message.role in ("user", "assistant") and checked.ok:
                kept.append(ChatMessage(message.role, checked.text))
        return kept[-2 * self.settings.history_turns:] if self.settings.history_turns else []

    def _relay_to_staff(self, conversation_id: str, text: str, clock: _Clock) -> Reply | None:
        """If a human is asked for or holds the conversation, log the customer's message for staff
        and return the quiet "handoff" reply; None when the bot is to answer. A message the
        guard refuses is answered by the bot as ever (staff never see it)."""
        checked = check_message(text, self.settings.max_message_chars)
        if not checked.ok or self.store.handoff.relay_if_held(conversation_id, text) is None:
            return None
        clock.lap("session")
        language = detect_language(checked.text, self.settings.language_seed)
        return Reply(conversation_id, "", True, language, [], 0.0, "", self.retriever.kb_version, clock.timings,
                     query=checked.text, action="handoff")

    def _log(self, conversation_id: str, user_text: str, reply: Reply, fresh: bool,
             turn_key: str | None, visitor_hash: str | None) -> Reply:
        """Log the turn and return the reply with its `turn_id`; the logged one instead when
        another attempt of the same turn (same key) was logged first."""
        # A fresh conversation's row is written with its first turn, on this engine's channel,
        # bound to its visitor.
        try:
            reply.turn_id = self.store.log_turn(conversation_id, self._capped(user_text), reply,
                                                channel=self.channel if fresh else "unknown", turn_key=turn_key,
                                                visitor_hash=visitor_hash if fresh else None)
        except TurnAlreadyLogged:
            logged = self.logged_turn(turn_key, None if fresh else conversation_id, user_text,
                                      visitor_hash if fresh else None)
            assert logged is not None  # the store found it before raising
            return logged
        return reply

    def _capped(self, user_text: str) -> str:
        # The raw text is capped so a 1 MB message cannot bloat the log; the guard already refused it.
        return user_text[: self.settings.max_message_chars]

    def logged_turn(self, turn_key: str, conversation_id: str | None, text: str,
                    visitor_hash: str | None = None) -> Reply | None:
        """The reply logged under `turn_key` for `text`, or None (`chatbot.conversations.retries`)."""
        return answer_from_log(self.store, self.retriever.snapshot().entries, check_turn_key(turn_key),
                               conversation_id, self._capped(text), visitor_hash)
