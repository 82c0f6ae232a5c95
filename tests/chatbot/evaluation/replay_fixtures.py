"""A logged shop to replay: conversations asked through the real engine (extractive answers),
some turns labelled, and a changed copy of the FAQ (one entry's answer, another's phrasings)."""

from __future__ import annotations

from pathlib import Path

from faq_services import SHOP_FAQ

from chatbot.services import Services

# (conversation, question, the entry staff label it with; "-" for none, None for out of scope)
CONVERSATIONS = [
    [("How long does shipping take?", "shipping-time"), ("Which payment methods do you accept?", "payment")],
    [("Can I send something back?", "returns"), ("Thanks!", "-")],
    [("What is the capital of Mongolia?", None)],
    [("What are your opening hours?", "store-hours"), ("Do you take credit cards?", "payment")],
]
NEW_PAYMENT = "We accept Visa and Mastercard only; PayPal is no longer offered."
# The FAQ with the payment entry's answer changed and the returns entry's phrasings replaced.
CHANGED_FAQ = (SHOP_FAQ
               .replace('"We accept Visa, Mastercard, American Express and PayPal."', f'"{NEW_PAYMENT}"')
               .replace("How do I return an item?,Can I send something back?|What is your return policy?",
                        "Where is the returns label printer in the warehouse?,"))


def log_shop_conversations(services: Services) -> dict[str, int]:
    """Ask every conversation through the engine (logged as customers' turns are) and label them;
    returns question -> logged turn id."""
    turns = {}
    for conversation in CONVERSATIONS:
        conversation_id = None
        for question, expected in conversation:
            reply = services.engine.respond(conversation_id, question)
            conversation_id = reply.conversation_id
            turns[question] = reply.turn_id
            if expected != "-":
                services.label_turn(reply.turn_id, expected, labelled_by="staff")
    return turns


def changed_kb(folder: Path) -> Path:
    assert CHANGED_FAQ != SHOP_FAQ and NEW_PAYMENT in CHANGED_FAQ
    path = folder / "changed_faq.csv"
    path.write_text(CHANGED_FAQ, encoding="utf-8")
    return path
