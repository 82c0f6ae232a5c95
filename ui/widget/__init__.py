"""The chat widget: `/widget.js` (the embed), the page it frames at `/widget/chat`, and the
checks every widget request passes (site key, origin, session, identity, rate limits)."""
