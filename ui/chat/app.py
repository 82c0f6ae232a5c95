"""The customer chat page: a Gradio app at / over the same services as the HTTP API.

    >>> demo = build_chat_app(services)                  # a gr.Blocks; ui.server mounts it at /
    >>> Client(url).predict("How long does shipping take?", None, api_name="/chat")
    ('Orders arrive in 3-5 business days.', '3f2a...', [{'id': 'shipping', ...}])

An empty chat greets the customer in their language with the most asked questions as buttons;
answers stream in sentence by sentence with their sources; a "Did you mean…?" shows its options
as buttons; every answer takes a thumbs up or down (a down asks for an optional comment); asking
for a person hands the conversation to staff, whose replies appear without a reload, and when
nobody answers in time the customer may leave an email. A reload shows the conversation again
(the visitor cookie). The handlers (`ui.chat.handlers`) only call services and render.
"""

# No `from __future__ import annotations`: gr.api reads the real type hints of `chat` to
# publish its three outputs.

from typing import TYPE_CHECKING

import gradio as gr

from ui.chat.handlers import ChatHandlers
from ui.chat.look import header_html
from ui.chat.words import words

if TYPE_CHECKING:
    from chatbot.services import Services

DEFAULT_TITLE = "Brightmart Help Center"
# Turns answered at once per app; more wait in Gradio's queue. A CPU-bound local model gains
# nothing from more, and the extractive generator answers in milliseconds anyway.
CHAT_CONCURRENCY = 4
POLL_EVERY_S = 3.0  # how often a page waiting for staff asks for their replies


def build_chat_app(services: "Services", title: str = DEFAULT_TITLE) -> gr.Blocks:
    """The customer chat page for `services`, titled with the shop's name."""
    handlers = ChatHandlers(services, title)
    said = words("en")  # until the page's load handler knows the visitor's language
    with gr.Blocks(title=title, analytics_enabled=False) as demo:
        header = gr.HTML(header_html(title, said.online))
        conversation_id = gr.State(None)  # one per browser session
        language, turns, cursor, rated_turn = gr.State("en"), gr.State({}), gr.State(0), gr.State(None)
        chatbot = gr.Chatbot(
            elem_id="chat-window", show_label=False, height=540, layout="bubble", sanitize_html=True,
            render_markdown=True, allow_tags=False, feedback_options=("Like", "Dislike"), buttons=[],
            placeholder=said.greeting, group_consecutive_messages=False,
        )
        with gr.Row(visible=False) as comment_row:
            comment = gr.Textbox(show_label=False, placeholder=said.comment_placeholder, scale=5, max_lines=3)
            comment_send = gr.Button(said.comment_send, scale=1, size="sm")
        with gr.Row(visible=False) as email_row:
            waiting_text = gr.Markdown(said.waiting_for_staff)
            email = gr.Textbox(show_label=False, placeholder=said.email_placeholder, scale=4)
            email_send = gr.Button(said.email_send, scale=1, size="sm")
        with gr.Row():
            textbox = gr.Textbox(elem_id="chat-input", show_label=False, placeholder=said.input_placeholder,
                                 scale=5, max_lines=6, autofocus=True)
            send = gr.Button(said.send, variant="primary", scale=1)
        new = gr.Button(said.new_conversation, variant="secondary", size="sm")
        timer = gr.Timer(POLL_EVERY_S, active=False)

        worded = [header, textbox, send, new, comment, comment_send, waiting_text, email_send]  # PAGE_WORDS
        demo.load(handlers.load, outputs=[chatbot, conversation_id, language, turns, cursor, timer, *worded],
                  api_visibility="private")
        turn = dict(inputs=[chatbot, conversation_id, language, turns],
                    outputs=[chatbot, conversation_id, textbox, turns, timer], api_visibility="private",
                    concurrency_limit=CHAT_CONCURRENCY, concurrency_id="chat")
        textbox.submit(handlers.send, inputs=[textbox, *turn["inputs"]],
                       **{k: v for k, v in turn.items() if k != "inputs"})
        send.click(handlers.send, inputs=[textbox, *turn["inputs"]],
                   **{k: v for k, v in turn.items() if k != "inputs"})
        chatbot.example_select(handlers.suggested, **turn)
        chatbot.option_select(handlers.chose, **turn)
        chatbot.like(handlers.feedback, inputs=[turns, language], outputs=[comment_row, rated_turn],
                     api_visibility="private", queue=False)
        comment_send.click(handlers.comment, inputs=[comment, rated_turn, language], outputs=[comment_row, comment],
                           api_visibility="private", queue=False)
        timer.tick(handlers.poll, inputs=[chatbot, conversation_id, cursor, language],
                   outputs=[chatbot, cursor, timer, email_row], api_visibility="private", queue=False)
        email_send.click(handlers.leave_email, inputs=[email, conversation_id, language],
                         outputs=[email_row, email], api_visibility="private", queue=False)
        new.click(handlers.new_conversation, outputs=[chatbot, conversation_id, textbox, turns, cursor, timer],
                  api_visibility="private", queue=False)
        gr.api(handlers.chat, api_name="chat", concurrency_limit=CHAT_CONCURRENCY, concurrency_id="chat")
    return demo
