"""The widget's security rules (DESIGN.md "Widget security model"), as pure functions.

- **Origins** are compared in one form, `scheme://host[:port]` (lower case, default port left
  out): `normalise_origin("HTTPS://Shop.example:443/cart")` is `"https://shop.example"`.
- **Widget sessions.** The framed page is loaded from an allowed origin (its Referer, checked by
  the server); it is handed a session that names the site and that origin and expires after
  `SESSION_TTL_S`, signed with the site's secret. Every API call of the page presents it, so the
  API knows which embedding origin it serves although the page's own requests come from the
  bot's origin. Signing with the site's secret means a removed site's sessions die with it, and a
  rotated secret ends them all.
- **Identity.** A site's server signs its user id: `hex(HMAC-SHA256(site_secret, user_id))`;
  `identity_is_valid` compares it in constant time. A valid identity's visitor token is derived
  from the secret and the user id (`identity_token`), so the same customer finds their
  conversations on every device, and nobody without the secret can compute it.

    >>> session = sign_session(site.key, site.secret, "https://shop.example", now=time.time())
    >>> verify_session(session, site.key, site.secret, now=time.time())   # the origin, or SiteRefused
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from urllib.parse import urlsplit

from chatbot.errors import SiteRefused

SESSION_TTL_S = 4 * 3600  # a page left open longer reloads itself (and is checked again)
USER_ID_CHARS = 256
_DEFAULT_PORTS = {"http": 80, "https": 443}
_HOST = re.compile(r"[a-z0-9.-]+|\[[0-9a-f:.]+\]")


def new_site_key() -> str:
    """A public site key: "site_" and 24 URL-safe random characters (144 bits: not guessable,
    although it is public, so that nobody can enumerate sites)."""
    return "site_" + secrets.token_urlsafe(18)


def new_site_secret() -> str:
    """A signing secret: 32 random bytes, hex (what a site's server puts in its HMAC call)."""
    return secrets.token_hex(32)


def normalise_origin(value: str) -> str:
    """`value` (an origin or any URL) as `scheme://host[:port]`; `ValueError` if it is not an
    http(s) URL with a host. The default port is left out, as browsers send the Origin header."""
    try:
        parts = urlsplit(value.strip())
        port = parts.port
    except ValueError:
        raise ValueError(f"not a URL: {value!r}") from None
    scheme, host = parts.scheme.lower(), (parts.hostname or "")
    if scheme not in _DEFAULT_PORTS or not host:
        raise ValueError(f"not an http(s) origin: {value!r} (write it as https://shop.example[:port])")
    if ":" in host:
        host = f"[{host}]"
    if not _HOST.fullmatch(host) or parts.username or parts.password:
        raise ValueError(f"not an http(s) origin: {value!r}")
    return f"{scheme}://{host}" + (f":{port}" if port is not None and port != _DEFAULT_PORTS[scheme] else "")


def origin_of(url: str | None) -> str | None:
    """The normalised origin of a Referer or Origin header; None when absent or not http(s)
    (`Origin: null`, a file: page)."""
    if not url:
        return None
    try:
        return normalise_origin(url)
    except ValueError:
        return None


def _mac(secret: str, message: str) -> str:
    return hmac.new(secret.encode(), message.encode(), hashlib.sha256).hexdigest()


def sign_session(site_key: str, secret: str, origin: str, now: float, ttl_s: int = SESSION_TTL_S) -> str:
    """A widget session for `origin` on the site, valid `ttl_s` seconds from `now`."""
    encoded = base64.urlsafe_b64encode(origin.encode()).decode().rstrip("=")
    expires = int(now) + ttl_s
    return f"{encoded}.{expires}.{_mac(secret, f'widget-session|{site_key}|{origin}|{expires}')}"


def verify_session(session: str | None, site_key: str, secret: str, now: float) -> str:
    """The embedding origin a session of the site names; `SiteRefused` if it is missing, forged,
    of another site or expired."""
    try:
        encoded, expires, mac = (session or "").split(".")
        origin = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)).decode()
        expiry = int(expires)
    except ValueError:
        raise SiteRefused("This request carries no valid widget session: load the chat from the site.") from None
    if not hmac.compare_digest(mac, _mac(secret, f"widget-session|{site_key}|{origin}|{expiry}")):
        raise SiteRefused("This request carries no valid widget session: load the chat from the site.")
    if expiry < now:
        raise SiteRefused("The widget session has expired: reload the chat.")
    return origin


def identity_signature(secret: str, user_id: str) -> str:
    """What a site's server computes for its user: hex(HMAC-SHA256(secret, user_id))."""
    return _mac(secret, user_id)


def identity_is_valid(secret: str, user_id: object, signature: object) -> bool:
    """Whether `signature` is the site's signature of `user_id`, compared in constant time; False
    for anything malformed (an unsigned identity is never trusted)."""
    if not isinstance(user_id, str) or not isinstance(signature, str) or not 0 < len(user_id) <= USER_ID_CHARS:
        return False
    return hmac.compare_digest(signature.strip().lower().encode(), identity_signature(secret, user_id).encode())


def identity_token(secret: str, user_id: str) -> str:
    """The visitor token of a verified user of the site: 43 URL-safe characters derived from the
    secret (so only the server can compute it) and the user id (the same on every device)."""
    digest = hmac.new(secret.encode(), f"visitor|{user_id}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")
