"""How the chat page looks: a support chat's header (the bot's name and avatar), bubbles with
times, no controls over the messages; fonts and avatar served by the app itself (offline).

    >>> gr.mount_gradio_app(app, demo, path="/", theme=chat_theme(), css=CHAT_CSS, head=CHAT_HEAD)
"""

from __future__ import annotations

import base64
import html

import gradio as gr

# The bot's avatar: a speech bubble on the brand colour, inline (no file route: those are closed).
_AVATAR_SVG = (
    '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 40 40">'
    '<circle cx="20" cy="20" r="20" fill="#2563eb"/>'
    '<path d="M11 13h18a3 3 0 0 1 3 3v8a3 3 0 0 1-3 3h-9l-6 5v-5h-3a3 3 0 0 1-3-3v-8a3 3 0 0 1 3-3z" fill="#fff"/>'
    '<circle cx="15.5" cy="20" r="1.8" fill="#2563eb"/><circle cx="20" cy="20" r="1.8" fill="#2563eb"/>'
    '<circle cx="24.5" cy="20" r="1.8" fill="#2563eb"/></svg>'
)
AVATAR_URI = "data:image/svg+xml;base64," + base64.b64encode(_AVATAR_SVG.encode()).decode()

CHAT_CSS = """
.gradio-container { max-width: 760px !important; margin: 0 auto !important; }
#chat-header { display: flex; align-items: center; gap: 12px; padding: 12px 4px 4px; }
#chat-header img { width: 44px; height: 44px; border-radius: 50%; }
#chat-header .name { font-size: 1.25rem; font-weight: 700; line-height: 1.2; }
#chat-header .status { font-size: .85rem; color: #16a34a; }
#chat-header .status::before { content: "●"; margin-right: 4px; }
#chat-window time { display: block; font-size: .72rem; opacity: .6; margin-top: 2px; }
#chat-window .placeholder-content { text-align: center; }
#chat-window label, #chat-window .icon-button-wrapper.top-panel { display: none !important; }
#chat-input textarea { font-size: 1rem; }
@media (max-width: 640px) {
  .gradio-container { padding: 0 6px !important; }
  #chat-header .name { font-size: 1.1rem; }
}
"""

# Each message's <time datetime="…Z"> is shown in the visitor's own time zone, as messages arrive.
CHAT_HEAD = """<script>
(() => {
  const local = (node) => node.querySelectorAll && node.querySelectorAll("time[datetime]:not([data-local])")
    .forEach((t) => { const d = new Date(t.getAttribute("datetime"));
      if (!isNaN(d)) { t.textContent = d.toLocaleTimeString([], {hour: "2-digit", minute: "2-digit"}); }
      t.setAttribute("data-local", "1"); });
  new MutationObserver((changes) => changes.forEach((c) => c.addedNodes.forEach(local)))
    .observe(document.documentElement, {childList: true, subtree: true});
})();
</script>"""


def chat_theme() -> gr.themes.Base:
    """Gradio's default look with fonts served by the app itself (no font CDN, works offline).

    The semibold Source Sans Pro file that Gradio ships holds only a few glyphs, so headings and
    buttons would mix fonts; declaring 400 and 700 makes semibold text use the complete bold file.
    """
    font = gr.themes.LocalFont("Source Sans Pro", weights=(400, 700))
    return gr.themes.Default(font=[font, "ui-sans-serif", "system-ui", "sans-serif"], primary_hue="blue")


def header_html(title: str, status: str) -> str:
    """The chat's header: avatar, the bot's name (the shop's title), its status line."""
    return (f'<div id="chat-header"><img src="{AVATAR_URI}" alt="">'
            f'<div><div class="name">{html.escape(title)}</div>'
            f'<div class="status">{html.escape(status)}</div></div></div>')
