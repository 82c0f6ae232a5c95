"""Fixed replies the bot gives in the customer's language (English and Chinese first-class)."""

from __future__ import annotations

_REPLIES: dict[str, dict[str, str]] = {
    "abstain": {
        "en": "I'm sorry, I couldn't find an answer to that in our help center. "
              "Would you like me to connect you with a member of our support team?",
        "zh": "抱歉，我在帮助中心里没有找到这个问题的答案。需要为您转接人工客服吗？",
    },
    "empty": {
        "en": "It looks like your message was empty. What can I help you with?",
        "zh": "您的消息似乎是空的。请问有什么可以帮您？",
    },
    "too_long": {
        "en": "Your message is too long for me to read ({detail}). "
              "Could you send a shorter question, or ask for a member of our support team?",
        "zh": "您的消息太长了（{detail}）。请发送一个更简短的问题，或者联系人工客服。",
    },
    "unreadable": {
        "en": "I couldn't read that message. Could you type your question again in plain words?",
        "zh": "我无法识别这条消息。请用文字重新输入您的问题。",
    },
    "injection": {
        "en": "I can only help with questions about our shop, using our help center. "
              "What would you like to know? I can also connect you with our support team.",
        "zh": "我只能根据帮助中心回答与本店相关的问题。请问您想了解什么？我也可以为您转接人工客服。",
    },
}


def canned_reply(kind: str, language: str, detail: str = "") -> str:
    """The fixed reply of `kind` in `language`, English when that language has none."""
    texts = _REPLIES[kind]
    return texts.get(language, texts["en"]).format(detail=detail)
