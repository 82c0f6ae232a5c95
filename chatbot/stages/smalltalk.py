"""Small talk and conversation moves, recognised before retrieval: greetings, thanks, goodbyes,
asking for a human, and yes / no to the bot's offer of one (English and Chinese).

A message is small talk only when it is *nothing but* small talk: once the known phrases and a
few filler words are taken out, nothing may remain. "hi, where is my order?" leaves "where is my
order" behind and goes on to retrieval, so a question is never answered with a pleasantry.
Asking for a human is different: it may come with other words ("I want to talk to a human about
my refund"), because a customer who asks for a person should get one whatever else they say.

    >>> small_talk("Thanks a lot!")
    SmallTalk(kind='thanks', language='en')
    >>> small_talk("hi, where is my order?") is None
    True
    >>> asks_for_human("转人工"), offer_answer("yes please")
    (True, 'yes')
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

# The kinds of small talk, by priority when a message holds several ("thanks, bye" says goodbye).
KINDS = ("goodbye", "thanks", "greeting", "acknowledge")

_EN_PHRASES: dict[str, tuple[str, ...]] = {
    "greeting": ("hello", "hi", "hey", "hiya", "howdy", "yo", "greetings", "good morning", "good afternoon",
                 "good evening", "good day", "morning", "evening", "how are you", "how are you doing",
                 "how is it going", "hows it going", "whats up", "sup", "nice to meet you"),
    "thanks": ("thanks", "thank you", "thx", "ty", "cheers", "thanks a lot", "many thanks", "much appreciated",
               "appreciate it", "i appreciate it", "that helps", "that helped", "that was helpful", "very helpful",
               "helpful", "great help", "perfect", "awesome", "great", "excellent", "wonderful"),
    "goodbye": ("bye", "goodbye", "good bye", "bye bye", "see you", "see ya", "see you later", "later",
                "have a nice day", "have a good day", "have a great day", "good night", "take care", "farewell"),
    "acknowledge": ("ok", "okay", "k", "kk", "alright", "all right", "got it", "i see", "cool", "nice", "fine",
                    "sounds good", "understood", "noted", "yes", "yeah", "yep", "no", "nope", "sure"),
}
# Words that may surround small talk without making it a question ("thank you so much, bot!").
_EN_FILLERS = frozenset("so very much a lot again there bot you all everyone team guys oh ah well and then "
                        "for your help it that this really too just".split())
_ZH_PHRASES: dict[str, tuple[str, ...]] = {
    "greeting": ("你好", "您好", "你们好", "大家好", "嗨", "哈喽", "哈啰", "早上好", "上午好", "中午好", "下午好",
                 "晚上好", "早安", "早", "在吗", "在不在", "有人吗", "你好吗"),
    "thanks": ("谢谢", "感谢", "多谢", "谢了", "谢啦", "麻烦了", "辛苦了", "太好了", "非常感谢", "有帮助", "很有帮助"),
    "goodbye": ("再见", "拜拜", "拜", "回见", "晚安", "下次见"),
    "acknowledge": ("好的", "好", "好吧", "嗯", "嗯嗯", "行", "可以", "明白了", "明白", "知道了", "收到", "懂了", "了解", "是的", "是", "不用了", "不用"),
}
_ZH_FILLERS = "啊呀哦噢喔了的呢吧嘛哈您你们很非常大家客服机器人"

# Asking for a person. English: a noun for a person of the shop, or a request to reach one.
_PERSON = (r"(human|humans|person|people|agent|agents|representative|rep|operator|someone|somebody|staff|"
           r"support team|customer service|customer support|live chat|real person|manager|supervisor)")
_EN_HUMAN = re.compile(
    r"\b(talk|speak|chat|connect|transfer|put)\b(\s+\w+){0,4}?\s+(to|with|through)\s+(a|an|the|your|some|real|"
    r"live|actual|\s)*" + _PERSON + r"\b"
    r"|\b(real|live|actual|human)\s+(person|agent|human|representative|support|being)\b"
    r"|\b(customer service|customer support|support)\s+(representative|agent|rep|person|staff)\b"
    r"|\b(i|we)\s+(want|need|would like|d like|demand)\s+(a|an|to see a|to reach a)?\s*"
    r"(human|person|agent|representative|operator|real person)\b"
    r"|\bescalate\b", re.IGNORECASE)
# The same nouns alone, or with "please" / "a" around them: "agent", "human please".
_EN_HUMAN_ALONE = re.compile(r"^(please\s+)?(a|an|the)?\s*(human|agent|representative|operator|person|"
                             r"live agent|human agent|real person|someone real|staff)(\s+please)?$")
_ZH_HUMAN = re.compile(r"转人工|人工客服|人工服务|找人工|接人工|要人工|真人客服|真人|转接客服|找客服|联系人工|^人工$|^客服$")

_EN_YES = frozenset(("yes", "yes please", "yeah", "yep", "yup", "sure", "ok", "okay", "ok please", "please",
                     "please do", "yes please do", "go ahead", "of course", "yes i would", "i would", "sure thing",
                     "that would be great", "definitely", "absolutely", "do it", "alright", "y"))
_EN_NO = frozenset(("no", "nope", "nah", "no thanks", "no thank you", "not now", "no need", "not needed",
                    "i m good", "im good", "i am good", "all good", "no its fine", "its fine", "thats ok",
                    "that s ok", "never mind", "nevermind", "n"))
_ZH_YES = frozenset(("是", "是的", "好", "好的", "好啊", "行", "可以", "需要", "要", "嗯", "嗯嗯", "对", "对的",
                     "麻烦了", "请转接", "转吧", "好的谢谢", "需要谢谢"))
_ZH_NO = frozenset(("不", "不用", "不用了", "不要", "不需要", "不了", "算了", "没事", "没事了", "不用谢谢",
                    "不用了谢谢", "暂时不用"))

_MAX_EN_WORDS = 12  # small talk is short; a longer message is treated as a question
_MAX_ZH_CHARS = 16
_HAN = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")


@dataclass(frozen=True)
class SmallTalk:
    """A message that is nothing but small talk: its `kind` (one of KINDS) and the `language`
    its phrases were written in ("en" or "zh"), which the reply follows."""

    kind: str
    language: str


def _normalised(text: str) -> str:
    """Lower case, NFKC (full-width letters and punctuation fold), punctuation, symbols and emoji
    turned into spaces, apostrophes dropped ("what's" -> "whats")."""
    text = unicodedata.normalize("NFKC", text).lower().replace("'", "").replace("\u2019", "")
    kept = [ch if unicodedata.category(ch)[0] in "LN" else " " for ch in text]
    return " ".join("".join(kept).split())


def _phrases_by_length(table: dict[str, tuple[str, ...]]) -> list[tuple[str, str]]:
    pairs = [(phrase, kind) for kind, phrases in table.items() for phrase in phrases]
    return sorted(pairs, key=lambda pair: -len(pair[0]))


_EN_ORDERED = _phrases_by_length(_EN_PHRASES)
_ZH_ORDERED = _phrases_by_length(_ZH_PHRASES)
_EN_PATTERN = re.compile(r"\b(" + "|".join(re.escape(p) for p, _ in _EN_ORDERED) + r")\b")
_EN_KIND = {phrase: kind for phrase, kind in _EN_ORDERED}


def _english(text: str) -> str | None:
    words = text.split()
    if not words or len(words) > _MAX_EN_WORDS:
        return None
    found = [_EN_KIND[match.group(1)] for match in _EN_PATTERN.finditer(text)]
    rest = _EN_PATTERN.sub(" ", text).split()
    if not found or any(word not in _EN_FILLERS for word in rest):
        return None
    return min(found, key=KINDS.index)


def _chinese(text: str) -> str | None:
    compact = text.replace(" ", "")
    if not compact or len(compact) > _MAX_ZH_CHARS:
        return None
    found = []
    for phrase, kind in _ZH_ORDERED:
        if phrase in compact:
            found.append(kind)
            compact = compact.replace(phrase, "")
    if not found or any(ch not in _ZH_FILLERS for ch in compact):
        return None
    return min(found, key=KINDS.index)


def small_talk(text: str) -> SmallTalk | None:
    """The small talk `text` is, or None when it says anything else (a question, a request)."""
    normal = _normalised(text)
    if _HAN.search(normal):
        kind = _chinese(normal)
        return SmallTalk(kind, "zh") if kind else None
    kind = _english(normal)
    return SmallTalk(kind, "en") if kind else None


def asks_for_human(text: str) -> bool:
    """Whether `text` asks to be put through to a person ("agent", "talk to a human", "转人工")."""
    normal = _normalised(text)
    if _ZH_HUMAN.search(normal.replace(" ", "")):
        return True
    return bool(_EN_HUMAN_ALONE.match(normal) or _EN_HUMAN.search(normal))


def offer_answer(text: str) -> str | None:
    """"yes" or "no" when `text` is a plain yes or no (to the bot's offer of a human), else None."""
    normal = _normalised(text)
    compact = normal.replace(" ", "")
    if normal in _EN_YES or compact in _ZH_YES:
        return "yes"
    if normal in _EN_NO or compact in _ZH_NO:
        return "no"
    return None


def text_language(text: str) -> str:
    """"zh" when `text` holds Chinese characters, else "en": the language of a short move whose
    words were recognised (langdetect cannot read two-word messages)."""
    return "zh" if _HAN.search(text) else "en"


def conversation_move(text: str, offered_human: bool) -> tuple[str, str, str] | None:
    """What to do with `text` before retrieval, as (action, canned reply kind, language), or None
    to go on to retrieval: a request for a person, or a yes right after the bot `offered_human`,
    hands off; a no to that offer gets a polite "what else"; small talk is answered briefly."""
    language = text_language(text)
    if asks_for_human(text):
        return "handoff", "handoff", language
    if offered_human:
        answer = offer_answer(text)
        if answer == "yes":
            return "handoff", "handoff", language
        if answer == "no":
            return "smalltalk", "declined", language
    talk = small_talk(text)
    return ("smalltalk", talk.kind, talk.language) if talk else None
