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
    # Small talk (chatbot.stages.smalltalk): brief, and always ending on what the bot can do.
    "greeting": {
        "en": "Hello! I'm the shop's assistant. What can I help you with today?",
        "zh": "您好！我是本店的智能助手，请问有什么可以帮您？",
    },
    "thanks": {
        "en": "You're welcome! Is there anything else I can help you with?",
        "zh": "不客气！还有什么可以帮您的吗？",
    },
    "goodbye": {
        "en": "Goodbye, and thanks for visiting! Come back any time you have a question.",
        "zh": "再见，感谢您的光临！有问题随时来问我。",
    },
    "acknowledge": {
        "en": "Okay! What else can I help you with?",
        "zh": "好的！还有什么可以帮您的吗？",
    },
    # The customer asked for a person, or said yes to the offer of one.
    "handoff": {
        "en": "I'm connecting you with our support team. A member of the team will reply here as soon "
              "as possible.",
        "zh": "正在为您转接人工客服，客服人员会尽快在这里回复您。",
    },
    # The customer said no to the offer of a person.
    "declined": {
        "en": "No problem. What else can I help you with?",
        "zh": "好的，没问题。还有什么可以帮您的吗？",
    },
    # A clarification ("Did you mean …?"); the options follow as buttons (Reply.options).
    "clarify": {
        "en": "I want to make sure I answer the right question. Did you mean one of these?",
        "zh": "为了准确回答您的问题，请问您想问的是以下哪一个？",
    },
    # "None of these" after a clarification: the offer of a person, as after an abstention.
    "none_of_these": {
        "en": "Sorry I couldn't find the right answer. "
              "Would you like me to connect you with a member of our support team?",
        "zh": "抱歉没能找到合适的答案。需要为您转接人工客服吗？",
    },
    # What the log shows as the customer's message when they chose "none of these".
    "none_label": {"en": "None of these", "zh": "以上都不是"},
}

# Replies that end on the offer of a person: a "yes" right after one of them is a hand-off.
OFFERS = ("abstain", "none_of_these")


def offers_human(answer: str) -> bool:
    """Whether a reply the bot gave (as stored or as a client sends it back) offered a person."""
    return any(answer.strip() == text for kind in OFFERS for text in _REPLIES[kind].values())


def canned_reply(kind: str, language: str, detail: str = "") -> str:
    """The fixed reply of `kind` in `language`, English when that language has none."""
    texts = _REPLIES[kind]
    return texts.get(language, texts["en"]).format(detail=detail)
