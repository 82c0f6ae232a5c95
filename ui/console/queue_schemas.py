"""The request and response bodies of the unanswered queue's staff API (`ui.console.queue_routes`)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from ui.console.schemas import EntryResponse


class UnansweredGroupResponse(BaseModel):
    group: str = Field(description="The group's id, for promoting it (stays while its oldest question is unanswered).")
    count: int = Field(description="How many times these questions were asked (once per conversation).")
    examples: list[str] = Field(description="Up to 5 of its questions, the most typical first.")
    languages: list[str] = Field(description="Their languages, the most common first.")
    first_seen: str = Field(description="ISO 8601, UTC.")
    last_seen: str = Field(description="ISO 8601, UTC.")
    reasons: dict[str, int] = Field(description="Why they are here: abstain, clarify, thumbs_down, handoff -> count.")
    turn_ids: list[int]


class PromoteRequest(BaseModel):
    """Into an existing entry (`entry_id`) or a new one (`new_id` and `answer`)."""

    model_config = ConfigDict(extra="forbid")

    entry_id: str | None = Field(default=None, description="Add the questions to this entry's alternates.")
    new_id: str | None = Field(default=None, description="Make a new entry with this id ...")
    answer: str | None = Field(default=None, max_length=20_000, description="... and this answer.")
    questions: list[str] | None = Field(default=None, max_length=1000,
                                        description="Only these questions of the group (default: all).")
    since: str | None = Field(default=None, description="As the listing was asked for (YYYY-MM-DD).")


class PromotionResponse(BaseModel):
    entry: EntryResponse
    added: list[str] = Field(description="The questions that became new phrasings of the entry.")
    labelled_turns: int
    created: bool


class TurnLabelBody(BaseModel):
    """Which entry should have answered the turn (null: out of scope), and optionally a review
    of the bot's answer: "approved", or "corrected" with the answer it should have given."""

    model_config = ConfigDict(extra="forbid")

    entry_id: str | None
    review: str | None = Field(default=None, description="approved | corrected | null")
    corrected_answer: str | None = Field(default=None, max_length=20_000)


class TurnLabelResponse(BaseModel):
    turn_id: int
    entry_id: str | None
    review: str | None
    corrected_answer: str | None
    labelled_by: str
    labelled_at: str
