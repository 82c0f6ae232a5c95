"""The chat page's words in the visitor's language (English and Chinese first-class).

    >>> page_language("zh-CN,zh;q=0.9,en;q=0.8")
    'zh'
    >>> words("zh").send
    '发送'

The page's language comes from the browser's Accept-Language; each answer's own words (its
"Sources" label, the options of a clarification) follow the language the bot answered in.
"""

from __future__ import annotations

from dataclasses import dataclass

LANGUAGES = ("en", "zh")


@dataclass(frozen=True)
class Words:
    greeting: str
    input_placeholder: str
    send: str
    new_conversation: str
    sources: str
    none_of_these: str
    online: str
    feedback_thanks: str
    comment_placeholder: str
    comment_send: str
    waiting_for_staff: str
    email_placeholder: str
    email_send: str
    email_saved: str


_WORDS = {
    "en": Words(
        greeting="**Hi! I'm the Brightmart assistant.** Ask me anything about orders, shipping, returns "
                 "or payments — or ask for a person at any time.",
        input_placeholder="Type your question…", send="Send", new_conversation="New conversation",
        sources="Sources", none_of_these="None of these", online="Online · answers in seconds",
        feedback_thanks="Thanks for your feedback!", comment_placeholder="What was wrong? (optional)",
        comment_send="Send feedback",
        waiting_for_staff="Nobody from our team is free right now. Leave your email and we will write to you.",
        email_placeholder="you@example.com", email_send="Contact me", email_saved="Thanks — we will email you soon.",
    ),
    "zh": Words(
        greeting="**您好！我是 Brightmart 智能客服。** 订单、配送、退货、支付的问题都可以问我，也可以随时转人工。",
        input_placeholder="请输入您的问题…", send="发送", new_conversation="新对话",
        sources="来源", none_of_these="都不是", online="在线 · 秒级回复",
        feedback_thanks="感谢您的反馈！", comment_placeholder="哪里不对？（可选）", comment_send="提交反馈",
        waiting_for_staff="客服暂时都在忙。请留下您的邮箱，我们会尽快联系您。",
        email_placeholder="you@example.com", email_send="联系我", email_saved="谢谢，我们会尽快通过邮件联系您。",
    ),
}


def words(language: str) -> Words:
    """The page's words in `language`; English when there are none in it."""
    return _WORDS.get(language, _WORDS["en"])


def page_language(accept_language: str | None) -> str:
    """The first of `LANGUAGES` that the Accept-Language header asks for (by its order and
    q-values), else "en"."""
    ranked: list[tuple[float, int, str]] = []
    for position, part in enumerate((accept_language or "").split(",")):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                quality = 0.0
        if quality > 0:  # q=0 (or a q that is no number) means "not this one"
            ranked.append((-quality, position, tag.strip().lower().split("-")[0]))
    for _, _, language in sorted(ranked):
        if language in LANGUAGES:
            return language
    return "en"
