"""The services of the unanswered queue (issue 15, item 3): the groups of unanswered questions,
promoting a group into an entry, labelling turns, and learning phrasings from labels. Mixed into
`chatbot.services.Services`, so the CLI (`chatbot logs unanswered|promote`), the staff API and
the console page call the same ones.

    >>> groups = services.unanswered_groups(since=last_monday)           # the most asked first
    >>> services.promote_group(groups[0].group, entry_id="refunds", author="alice")
    >>> services.promote_group(groups[1].group, new_id="yen", answer="We accept yen.", author="alice")
    >>> services.label_turns([TurnLabelRequest(41, "refunds", review="approved")], "alice")

Every change ends with the index in step: new phrasings are embedded, the head refitted from the
one in service, and the thresholds recalibrated with the labels (`Services.sync_index`); a label
that adds no phrasing (out of scope, say) still recalibrates (`Services.calibrate_index`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from chatbot.conversations.database import database_errors
from chatbot.conversations.labels import LabelError, TurnLabel, UnknownTurn
from chatbot.errors import Conflict, InvalidInput, UnknownItem
from chatbot.staff.learning import labels_to_learn, with_phrasings
from chatbot.staff.unanswered import UnansweredGroup, find_group, group_similarity, group_turns, is_multilingual
from knowledge_base.entries import Entry, EntryError
from knowledge_base.index.snapshot import IndexNotBuilt

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from chatbot.conversations.store import ConversationStore
    from knowledge_base.embedding.embedder import Embedder
    from knowledge_base.index.snapshot import Manifest
    from knowledge_base.repository import KnowledgeBaseRepository
    from knowledge_base.retrieval.retriever import Retriever

GONE = ("no unanswered group has the id {group!r}: its questions were promoted or labelled already, "
        "or the id is mistyped (list the queue again: `chatbot logs unanswered`)")


@dataclass(frozen=True)
class TurnLabelRequest:
    """One label to store (`chatbot.conversations.labels`): the entry that should have answered
    the turn (None: out of scope), and optionally a review of the bot's answer."""

    turn_id: int
    expected_id: str | None
    review: str | None = None  # "approved" | "corrected" | None
    corrected_answer: str | None = None


@dataclass(frozen=True)
class Promotion:
    """What promoting a group did: the entry as stored now, the questions it gained as
    phrasings, and how many turns were labelled with it."""

    entry: Entry
    added: list[str]
    labelled_turns: int
    created: bool


class QueueServices:
    """Mixed into `Services`, whose database, repository, conversation store, embedder and
    index calls these use."""

    database: "Engine"
    knowledge_base: "KnowledgeBaseRepository"
    conversations: "ConversationStore"
    retriever: "Retriever"

    if TYPE_CHECKING:
        @property
        def embedder(self) -> "Embedder": ...
        def sync_index(self, full: bool = False, progress: bool = False) -> "Manifest": ...
        def calibrate_index(self, progress: bool = False) -> "Manifest": ...

    def unanswered_groups(self, since: datetime | None = None, until: datetime | None = None) -> list[UnansweredGroup]:
        """Groups of similar unanswered questions logged in [since, until), the most asked first
        (`chatbot.staff.unanswered`), grouped with the index's embedding model."""
        turns = self.conversations.unanswered.turns(since, until)
        try:
            self.retriever.snapshot()  # the index in service decides the model (the retriever follows it)
        except IndexNotBuilt:
            pass
        embedder = self.embedder
        return group_turns(turns, embedder.encode, group_similarity(embedder.model_name),
                           by_language=not is_multilingual(embedder.model_name))

    def promote_group(self, group: str, *, author: str, entry_id: str | None = None, new_id: str | None = None,
                      answer: str | None = None, questions: Sequence[str] | None = None,
                      since: datetime | None = None) -> Promotion:
        """Turn the group `group` (an id `unanswered_groups` listed, with the same `since`) into
        phrasings: of the existing entry `entry_id`, or of a new entry `new_id` answering
        `answer` (its question the group's most typical one, its language the group's). Only
        `questions` of the group when given (staff left the others out). Its turns are labelled
        with the entry (by `author`), and the index follows before this returns.

        Raises `InvalidInput` (neither or both targets, no answer, a question not in the group,
        an entry that cannot be stored), `UnknownItem` (no such group or entry), `Conflict`
        (`new_id` is taken)."""
        if (entry_id is None) == (new_id is None):
            raise InvalidInput("Give either the id of an existing entry, or a new id with its answer.")
        if new_id is not None and not (answer or "").strip():
            raise InvalidInput("A new entry needs its answer: write the answer staff stand behind.")
        found = find_group(self.unanswered_groups(since), group)
        if found is None:
            raise UnknownItem(GONE.format(group=group[:80]))
        chosen = found.questions if questions is None else _chosen(found, questions)
        turns = found.turns_of(chosen)
        with database_errors(self.database):
            if new_id is not None:
                entry = self._new_entry(new_id, answer or "", chosen, found.language, author)
            else:
                entry = self.knowledge_base.get(entry_id or "")
                if entry is None:
                    raise UnknownItem(f"no knowledge-base entry has id {entry_id!r} (see `chatbot kb list`)")
            for turn in turns:
                self.conversations.label_turn(turn.turn_id, entry.id, labelled_by=author)
        if new_id is None:
            self.learn_from_labels()
        else:
            self.sync_index()
        stored = self.knowledge_base.get(entry.id) or entry
        before = {p.casefold() for p in entry.phrasings} if new_id is None else set()
        added = [p for p in stored.phrasings if p.casefold() not in before and p.casefold() in
                 {q.casefold() for q in chosen}]
        return Promotion(stored, added, len(turns), new_id is not None)

    def _new_entry(self, new_id: str, answer: str, questions: Sequence[str], language: str, author: str) -> Entry:
        try:
            entry = Entry(new_id, questions[0], answer, alternates=list(questions[1:]), language=language).validate()
        except EntryError as error:
            raise InvalidInput(str(error)) from None
        if self.knowledge_base.get(entry.id) is not None:
            raise Conflict(f"an entry with id {entry.id!r} exists already: add the group to it with its id instead")
        learned = with_phrasings(Entry(entry.id, entry.question, entry.answer, language=entry.language),
                                 entry.alternates) or entry  # the same size limit as every learned phrasing
        self.knowledge_base.upsert([learned], summary=f"created {entry.id} from unanswered questions by {author}")
        return learned

    def label_turns(self, labels: Sequence[TurnLabelRequest], labelled_by: str) -> list[TurnLabel]:
        """Store `labels` (each replaces the turn's earlier label): the entry that should have
        answered (None: out of scope), "approved" (the answer was right) or "corrected" with the
        answer it should have given. The labelled questions become phrasings of their entries,
        and the index and thresholds follow, once for all of them. `UnknownItem` for an unknown
        turn or entry (nothing is stored then), `InvalidInput` for a review that does not fit."""
        with database_errors(self.database):
            for label in labels:
                if label.expected_id is not None and self.knowledge_base.get(label.expected_id) is None:
                    raise UnknownItem(f"no knowledge-base entry has id {label.expected_id!r} (see `chatbot kb list`)")
            stored = []
            try:
                for label in labels:
                    stored.append(self.conversations.label_turn(label.turn_id, label.expected_id, label.review,
                                                                label.corrected_answer, labelled_by))
            except UnknownTurn as error:
                raise UnknownItem(str(error)) from None
            except LabelError as error:
                raise InvalidInput(str(error)) from None
        if not self.learn_from_labels():
            self.calibrate_index()
        return stored

    def learn_from_labels(self) -> int:
        """Add labelled questions not yet learned to their entries' alternates (staff labels,
        promotions and customers' clarification choices alike; `chatbot.staff.learning`) and
        bring the index up to date; returns how many phrasings were added."""
        with database_errors(self.database):
            entries = {e.id: e for e in self.knowledge_base.list_entries()}
            pending = labels_to_learn(self.conversations.labelled_turns(), entries)
            changed = [e for e in (with_phrasings(entries[i], texts) for i, texts in pending.items()) if e is not None]
            added = sum(len(e.alternates) - len(entries[e.id].alternates) for e in changed)
            if changed:
                self.knowledge_base.upsert(changed, summary=f"learned {added} phrasings from labelled questions")
        if changed:
            self.sync_index()
        return added


def _chosen(group: UnansweredGroup, questions: Sequence[str]) -> list[str]:
    """The group's questions among `questions`, in the group's order; `InvalidInput` for one
    that is not the group's, or for none."""
    known = {q.casefold(): q for q in group.questions}
    stray = [q for q in questions if q.casefold() not in known]
    if stray:
        raise InvalidInput(f"{stray[0][:80]!r} is not a question of group {group.group}.")
    wanted = {q.casefold() for q in questions}
    chosen = [q for q in group.questions if q.casefold() in wanted]
    if not chosen:
        raise InvalidInput("Choose at least one question of the group.")
    return chosen
