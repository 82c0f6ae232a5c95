"""The widget's own words (beside the chat page's, `ui.chat.words`), English and Chinese."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class WidgetWords:
    title: str
    rate_limited: str
    too_long: str
    unavailable: str
    typing: str
    you: str
    helpful: str
    not_helpful: str
    suggested: str


_WORDS = {
    "en": WidgetWords(
        title="Brightmart support", rate_limited="You're sending messages quickly — please wait {s} seconds and try again.",
        too_long="That message is too long: please keep it under {n} characters.",
        unavailable="The chat is not available right now. Please try again later.",
        typing="The assistant is typing", you="You", helpful="Helpful", not_helpful="Not helpful",
        suggested="Popular questions",
    ),
    "zh": WidgetWords(
        title="Brightmart 客服", rate_limited="您发送得太快了，请等待 {s} 秒后再试。",
        too_long="消息太长了，请控制在 {n} 个字符以内。", unavailable="聊天暂时不可用，请稍后再试。",
        typing="客服正在输入", you="您", helpful="有帮助", not_helpful="没帮助", suggested="常见问题",
    ),
}


def widget_words(language: str) -> WidgetWords:
    """The widget's words in `language`; English when there are none in it."""
    return _WORDS.get(language, _WORDS["en"])
