/* Support chat embed: <script src="https://HOST/widget.js" data-site-key="KEY" async></script>
 * Adds a floating bubble (inside a Shadow DOM: no style leaks either way) that opens the
 * chat, framed from HOST. Data attributes: data-site-key, data-color, data-title, data-greeting,
 * data-position (left|right), data-language (en|zh), data-open, data-user-id + data-user-signature.
 * API: SupportChat.open(), .close(), .toggle(), .identify({user_id, signature, name, email}).
 * Messages with the frame are checked both ways: only from the frame's window and HOST's origin.
 * No dependencies. */
(function () {
  "use strict";
  var script = document.currentScript;
  if (!script || (window.SupportChat && window.SupportChat.version)) return;
  var data = script.dataset;
  var hostOrigin = new URL(script.src, location.href).origin;
  var color = /^#[0-9a-fA-F]{3}([0-9a-fA-F]{3})?$/.test(data.color || "") ? data.color : "#2563eb";
  var side = data.position === "left" ? "left" : "right";
  var opened = false, ready = false, queue = [], unread = 0;

  var params = new URLSearchParams({ site_key: data.siteKey || "", color: color });
  ["language", "title", "greeting"].forEach(function (name) {
    if (data[name]) params.set(name === "language" ? "lang" : name, data[name]);
  });

  var host = document.createElement("div");
  host.setAttribute("data-support-chat", "");
  // Inline !important: the host page's own rules (even `div { ... !important }`) cannot move it.
  host.style.setProperty("all", "initial", "important");
  host.style.setProperty("position", "fixed", "important");
  host.style.setProperty("z-index", "2147483000", "important");
  host.style.setProperty("bottom", "0", "important");
  host.style.setProperty(side, "0", "important");
  // Open: the page's own scripts (and tests) may look in; styles are isolated either way.
  var root = host.attachShadow({ mode: "open" });

  var css = ":host{all:initial}" +
    "*{box-sizing:border-box}" +
    ".bubble{position:fixed;bottom:20px;" + side + ":20px;width:60px;height:60px;border-radius:50%;border:0;" +
    "cursor:pointer;background:" + color + ";box-shadow:0 6px 20px rgba(0,0,0,.25);display:flex;" +
    "align-items:center;justify-content:center;padding:0;transition:transform .15s}" +
    ".bubble:hover{transform:scale(1.06)}.bubble svg{width:30px;height:30px;fill:#fff}" +
    ".badge{position:absolute;top:-4px;right:-4px;min-width:22px;height:22px;padding:0 6px;border-radius:11px;" +
    "background:#dc2626;color:#fff;font:700 12px/22px system-ui,sans-serif;text-align:center}" +
    ".badge[hidden]{display:none}" +
    ".panel{position:fixed;bottom:92px;" + side + ":20px;width:380px;height:600px;max-height:calc(100vh - 112px);" +
    "border-radius:16px;overflow:hidden;box-shadow:0 12px 40px rgba(0,0,0,.28);background:#fff}" +
    ".panel[hidden]{display:none}iframe{border:0;width:100%;height:100%;display:block}" +
    "@media (max-width:480px){.panel{inset:0;width:100%;height:100%;max-height:none;border-radius:0}" +
    ".open .bubble{display:none}}";
  var style = null;
  try {  // a constructed sheet: allowed even by a host page's CSP without 'unsafe-inline'
    var sheet = new CSSStyleSheet();
    sheet.replaceSync(css);
    root.adoptedStyleSheets = [sheet];
  } catch (e) {
    style = document.createElement("style");
    style.textContent = css;
  }
  var wrap = document.createElement("div");
  var panel = document.createElement("div");
  panel.className = "panel";
  panel.hidden = true;
  var frame = document.createElement("iframe");
  frame.title = data.title || "Support chat";
  // The server checks the embedding origin by the Referer: send it whatever the page's policy.
  frame.referrerPolicy = "origin";
  frame.src = hostOrigin + "/widget/chat?" + params.toString();
  panel.appendChild(frame);
  var bubble = document.createElement("button");
  bubble.className = "bubble";
  bubble.type = "button";
  bubble.setAttribute("aria-label", data.title || "Open support chat");
  bubble.innerHTML = '<svg viewBox="0 0 24 24" aria-hidden="true"><path d="M4 4h16a2 2 0 0 1 2 2v10a2 2 0 0 1-2 ' +
    '2H9l-5 4v-4a2 2 0 0 1-2-2V6a2 2 0 0 1 2-2z"/></svg>';
  var badge = document.createElement("span");
  badge.className = "badge";
  badge.hidden = true;
  bubble.appendChild(badge);
  wrap.appendChild(panel);
  wrap.appendChild(bubble);
  if (style) root.appendChild(style);
  root.appendChild(wrap);

  // The frame's values (its visitor token, its conversation) when the browser refuses storage to
  // a cross-site frame: kept in this page's storage under the site key, handed back on each load.
  var prefix = "supportchat:" + (data.siteKey || "") + ":";
  function pageStore() { try { return window.localStorage; } catch (e) { return null; } }
  function storedValues() {
    var values = {}, store = pageStore();
    for (var i = 0; store && i < store.length; i++) {
      var key = store.key(i);
      if (key.indexOf(prefix) === 0) values[key.slice(prefix.length)] = store.getItem(key);
    }
    return values;
  }
  function keep(name, value) {
    var store = pageStore();
    if (!store || typeof name !== "string" || name.length > 300 || typeof value !== "string" || value.length > 200) return;
    try { if (value) store.setItem(prefix + name, value); else store.removeItem(prefix + name); } catch (e) {}
  }

  function post(message) {
    if (!ready) { queue.push(message); return; }
    frame.contentWindow.postMessage(message, hostOrigin);
  }
  function showUnread(count) {
    unread = count;
    badge.textContent = count > 9 ? "9+" : String(count);
    badge.hidden = opened || count < 1;
  }
  function setOpen(value) {
    opened = value;
    panel.hidden = !value;
    wrap.className = value ? "open" : "";
    bubble.setAttribute("aria-expanded", String(value));
    if (value) showUnread(0);
    post({ type: "visibility", open: value });
  }

  window.addEventListener("message", function (event) {
    if (event.source !== frame.contentWindow || event.origin !== hostOrigin) return;
    var message = event.data || {};
    if (message.type === "ready") {
      ready = true;
      frame.contentWindow.postMessage({ type: "storage", values: storedValues() }, hostOrigin);
      frame.contentWindow.postMessage({ type: "visibility", open: opened }, hostOrigin);
      queue.splice(0).forEach(post);
    } else if (message.type === "unread" && typeof message.count === "number") {
      showUnread(message.count);
    } else if (message.type === "remember") {
      keep(message.name, message.value);
    } else if (message.type === "close") {
      setOpen(false);
    }
  });
  bubble.addEventListener("click", function () { setOpen(!opened); });

  window.SupportChat = {
    version: "1",
    open: function () { setOpen(true); },
    close: function () { setOpen(false); },
    toggle: function () { setOpen(!opened); },
    /* identity = {user_id, signature: hex(HMAC-SHA256(site_secret, user_id)), name?, email?};
     * checked by the server: a wrong signature is ignored (the visitor stays anonymous). */
    identify: function (identity) {
      if (!identity || typeof identity.user_id !== "string" || typeof identity.signature !== "string") return;
      post({ type: "identify", user_id: identity.user_id, signature: identity.signature,
             name: identity.name || "", email: identity.email || "" });
    },
    unread: function () { return unread; }
  };
  if (data.userId && data.userSignature) {
    window.SupportChat.identify({ user_id: data.userId, signature: data.userSignature });
  }

  function mount() {
    document.body.appendChild(host);
    if (data.open === "true" || data.open === "") setOpen(true);
  }
  if (document.body) mount(); else document.addEventListener("DOMContentLoaded", mount);
})();
