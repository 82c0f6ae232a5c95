/* The framed chat page: talks to the HTTP API (/api/ask, the messages feed, feedback, contact)
 * and to widget.js in the embedding page (postMessage, origins checked both ways).
 * Server text is only ever put on screen with textContent: never parsed as HTML.
 * The visitor token lives in this frame's own localStorage (browsers partition it per embedding
 * site) and travels as X-Visitor-Token: a cross-site frame gets no SameSite=Lax cookie. */
(function () {
  "use strict";
  var cfg = JSON.parse(document.getElementById("widget-config").textContent);
  var store = null;
  try { store = window.localStorage; store.getItem("x"); } catch (e) { store = null; }
  var prefix = "supportchat:" + cfg.site_key + ":";
  var state = { conversation: null, cursor: 0, identity: null, open: false, unread: 0, started: false,
                busy: false, state: "bot", contactShown: false, timer: null };
  var $ = function (id) { return document.getElementById(id); };
  var messages = $("messages"), input = $("input"), notice = $("notice");

  function words(language) { return cfg.words[language] || cfg.words[cfg.language] || cfg.words.en; }
  var W = words(cfg.language);

  function newToken() {
    var bytes = new Uint8Array(32);
    crypto.getRandomValues(bytes);
    return btoa(String.fromCharCode.apply(null, bytes)).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }
  // Where the browser refuses storage to a cross-site frame (third-party storage blocked, as in
  // private windows), the embedding page keeps the values for it in its own storage (widget.js).
  var hosted = {};
  function remember(name, value) {
    if (store) { try { return store.setItem(prefix + name, value); } catch (e) {} }
    hosted[name] = value;
    toParent({ type: "remember", name: name, value: value });
  }
  function recall(name) { return store ? store.getItem(prefix + name) : (hosted[name] || null); }
  var token = null;
  function visitorToken() {
    token = recall("visitor");
    if (!/^[A-Za-z0-9_-]{32,128}$/.test(token || "")) { token = newToken(); remember("visitor", token); }
  }

  // -- talking to the embedding page (widget.js) ------------------------------------------------
  function toParent(message) { if (window.parent !== window && cfg.origin) window.parent.postMessage(message, cfg.origin); }
  window.addEventListener("message", function (event) {
    if (event.source !== window.parent || event.origin !== cfg.origin) return;
    var message = event.data || {};
    if (message.type === "storage" && message.values && typeof message.values === "object") {
      Object.keys(message.values).forEach(function (k) { if (typeof message.values[k] === "string") hosted[k] = message.values[k]; });
    } else if (message.type === "visibility") {
      state.open = !!message.open;
      // A hidden frame has no height to scroll by: show the latest messages once it is opened.
      if (state.open) { state.unread = 0; toParent({ type: "unread", count: 0 }); input.focus(); scroll(); }
      if (!state.started) setTimeout(start, 30);  // an identify queued behind it arrives first
    } else if (message.type === "identify" && typeof message.user_id === "string") {
      var changed = !state.identity || state.identity.user_id !== message.user_id;
      state.identity = { user_id: message.user_id, signature: String(message.signature || "") };
      if (changed && state.started) restart();
    }
  });

  // -- the API ------------------------------------------------------------------------------------
  function headers() {
    var h = { "Content-Type": "application/json", "X-Site-Key": cfg.site_key, "X-Widget-Session": cfg.session,
              "X-Visitor-Token": token };
    if (state.identity) { h["X-Widget-User"] = state.identity.user_id; h["X-Widget-Signature"] = state.identity.signature; }
    return h;
  }
  function api(method, path, body, extra) {
    var h = headers();
    Object.keys(extra || {}).forEach(function (k) { h[k] = extra[k]; });
    return fetch(path, { method: method, headers: h, body: body ? JSON.stringify(body) : undefined,
                         credentials: "omit", cache: "no-store" }).then(function (response) {
      return response.json().catch(function () { return {}; }).then(function (json) {
        if (response.ok) return json;
        var error = new Error(typeof json.detail === "string" ? json.detail : "");
        error.status = response.status;
        error.retryAfter = response.headers.get("Retry-After") || "30";
        throw error;
      });
    });
  }
  function showNotice(text) { notice.textContent = text; notice.hidden = !text; }
  function failed(error) {
    if (error.status === 429) return showNotice(W.rate_limited.replace("{s}", error.retryAfter));
    if (error.status === 403) {  // an expired session: load the page again (once a minute at most)
      var last = 0;
      try { last = Number(sessionStorage.getItem(prefix + "reloaded") || 0); } catch (e) {}
      if (Date.now() - last > 60000) {
        try { sessionStorage.setItem(prefix + "reloaded", String(Date.now())); } catch (e) {}
        return location.reload();
      }
    }
    if (error.status === 404 && state.conversation) { forget(); return showNotice(W.unavailable); }
    showNotice(error.status === 422 && error.message ? error.message : W.unavailable);
  }

  // -- rendering: text only ------------------------------------------------------------------------
  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }
  function richText(node, text) {  // **bold** (the greeting's) as <strong>, all of it as text
    String(text).split("**").forEach(function (part, i) {
      if (part) node.appendChild(i % 2 ? el("strong", "", part) : document.createTextNode(part));
    });
    return node;
  }
  function clock(time) {
    var date = time ? new Date(time) : new Date();
    return date.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  }
  function scroll() { messages.scrollTop = messages.scrollHeight; }
  function bubble(author, text, time, name) {
    var row = el("div", "row " + author);
    var box = el("div", "msg");
    if (author === "staff" && name) box.appendChild(el("div", "name", name));
    richText(box, text);
    box.appendChild(el("time", "", clock(time)));
    row.appendChild(box);
    messages.appendChild(row);
    scroll();
    return box;
  }
  function greet() {
    var box = bubble("bot", cfg.greeting || W.greeting);
    box.classList.add("greeting");
    if (!cfg.suggestions.length) return;
    var list = el("div", "chips");
    list.appendChild(el("div", "chips-title", W.suggested));
    cfg.suggestions.forEach(function (question) {
      var chip = el("button", "chip", question);
      chip.type = "button";
      chip.addEventListener("click", function () { send(question); });
      list.appendChild(chip);
    });
    messages.appendChild(list);
  }
  function sourcesOf(box, reply) {
    if (!reply.sources || !reply.sources.length) return;
    var said = words(reply.language);
    var list = el("div", "sources");
    list.appendChild(el("span", "label", said.sources + ": "));
    reply.sources.forEach(function (source, i) {
      list.appendChild(el("span", "source", (i ? " · " : "") + source.question));
    });
    box.insertBefore(list, box.lastChild);
  }
  function optionsOf(box, reply) {
    var said = words(reply.language);
    var list = el("div", "options");
    reply.options.concat([{ id: "none", question: said.none_of_these }]).forEach(function (option) {
      var button = el("button", option.id === "none" ? "option none" : "option", option.question);
      button.type = "button";
      button.addEventListener("click", function () {
        list.querySelectorAll("button").forEach(function (b) { b.disabled = true; });
        send(option.id === "none" ? said.none_of_these : option.question, option.id);
      });
      list.appendChild(button);
    });
    box.appendChild(list);
  }
  function thumbsOf(box, turnId, language) {
    var said = words(language);
    var row = el("div", "thumbs");
    [["up", said.helpful], ["down", said.not_helpful]].forEach(function (t) {
      var button = el("button", "thumb " + t[0]);  // the icon is the style's: no emoji font needed
      button.type = "button";
      button.addEventListener("click", function () {
        row.querySelectorAll("button").forEach(function (b) { b.disabled = true; });
        button.classList.add("chosen");
        if (t[0] === "up") return feedback(row, turnId, "up", null, said);
        var form = el("form", "comment");
        var text = el("input");
        text.placeholder = said.comment_placeholder;
        text.maxLength = 2000;
        var go = el("button", "", said.comment_send);
        form.appendChild(text); form.appendChild(go);
        form.addEventListener("submit", function (e) { e.preventDefault(); form.remove(); feedback(row, turnId, "down", text.value, said); });
        row.appendChild(form);
        text.focus();
      });
      button.setAttribute("aria-label", t[1]);
      button.title = t[1];
      row.appendChild(button);
    });
    box.appendChild(row);
  }
  function feedback(row, turnId, rating, comment, said) {
    api("POST", "/api/feedback", { turn_id: turnId, rating: rating, comment: comment || null })
      .then(function () { row.appendChild(el("span", "thanks", said.feedback_thanks)); }, failed);
  }
  function botReply(reply) {
    if (!reply.answer) return;  // a human holds the conversation: staff answer through the feed
    var box = bubble("bot", reply.answer);
    sourcesOf(box, reply);
    if (reply.action === "clarify" && reply.options && reply.options.length) optionsOf(box, reply);
    if (reply.turn_id && (reply.action === "answer" || reply.action === "")) thumbsOf(box, reply.turn_id, reply.language);
    scroll();
  }
  function contactForm() {
    if (state.contactShown) return;
    state.contactShown = true;
    var box = bubble("bot", W.waiting_for_staff);
    var form = el("form", "contact");
    var email = el("input");
    email.type = "email"; email.placeholder = W.email_placeholder; email.required = true;
    var go = el("button", "", W.email_send);
    form.appendChild(email); form.appendChild(go);
    form.addEventListener("submit", function (e) {
      e.preventDefault();
      api("POST", "/api/conversations/" + state.conversation + "/contact", { email: email.value }).then(function () {
        form.replaceWith(el("div", "thanks", W.email_saved));
      }, failed);
    });
    box.insertBefore(form, box.lastChild);
  }

  // -- the conversation ---------------------------------------------------------------------------
  function typing(on) {
    var old = document.querySelector(".typing");
    if (old) old.remove();
    if (!on) return;
    var row = el("div", "row bot typing");
    var box = el("div", "msg");
    box.setAttribute("aria-label", W.typing);
    box.appendChild(el("span")); box.appendChild(el("span")); box.appendChild(el("span"));
    row.appendChild(box);
    messages.appendChild(row);
    scroll();
  }
  function turnKey() { var b = new Uint8Array(18); crypto.getRandomValues(b); return Array.prototype.map.call(b, function (x) { return ("0" + x.toString(16)).slice(-2); }).join(""); }
  function send(text, choice) {
    text = String(text || "").trim();
    if (!text || state.busy) return;
    if (text.length > cfg.max_message_chars) return showNotice(W.too_long.replace("{n}", cfg.max_message_chars));
    showNotice("");
    state.busy = true;
    var chips = document.querySelector(".chips");
    if (chips) chips.remove();  // suggestions are for an empty chat
    bubble("customer", text);
    input.value = "";
    typing(true);
    var body = { message: text, conversation_id: state.conversation };
    if (choice) body.choice = choice;
    // One key per message, the same for a retry of it: a lost answer is not logged twice.
    api("POST", "/api/ask", body, { "Idempotency-Key": turnKey() }).then(function (reply) {
      typing(false);
      if (!state.conversation) { state.conversation = reply.conversation_id; remember(conversationSlot(), reply.conversation_id); }
      botReply(reply);
      poll();
    }, function (error) { typing(false); failed(error); }).then(function () { state.busy = false; });
  }
  function conversationSlot() { return state.identity ? "conversation:" + state.identity.user_id : "conversation"; }
  function forget() { state.conversation = null; state.cursor = 0; remember(conversationSlot(), ""); }
  function showFeed(feed, initial) {
    state.cursor = feed.cursor;
    state.state = feed.state;
    feed.messages.forEach(function (m) {
      // The customer's own messages and the bot's answers are on screen already (sent from here);
      // a first load shows them all, and staff replies always.
      if (!initial && m.author !== "staff") return;
      var box = bubble(m.author === "customer" ? "customer" : m.author, m.text, m.time, m.name);
      if (initial && m.author === "bot" && m.turn_id) thumbsOf(box, m.turn_id, cfg.language);
      if (!initial && m.author === "staff" && !state.open) {
        state.unread += 1;
        toParent({ type: "unread", count: state.unread });
      }
    });
    if (feed.contact_offer && !feed.contact_left) contactForm();
  }
  function poll() {
    clearTimeout(state.timer);
    if (!state.conversation) return;
    state.timer = setTimeout(function () {
      api("GET", "/api/conversations/" + state.conversation + "/messages?after=" + state.cursor)
        .then(function (feed) { showFeed(feed, false); }, function () {}).then(poll);
    }, cfg.poll_ms);
  }
  function load(conversation) {
    return api("GET", "/api/conversations/" + conversation + "/messages?after=0").then(function (feed) {
      state.conversation = conversation;
      remember(conversationSlot(), conversation);
      if (!feed.messages.length) greet();
      showFeed(feed, true);
      poll();
    });
  }
  function start() {
    if (state.started) return;
    state.started = true;
    visitorToken();
    var saved = recall(conversationSlot());
    var opening = saved ? load(saved) : Promise.reject(null);
    opening.catch(function () {
      return api("GET", "/api/widget/conversation").then(function (found) {
        if (found.conversation_id) return load(found.conversation_id);
        greet();
      });
    }).catch(function (error) { if (!messages.childElementCount) greet(); failed(error); });
  }
  function restart() {
    clearTimeout(state.timer);
    state.conversation = null; state.cursor = 0; state.started = false; state.contactShown = false;
    messages.textContent = "";
    start();
  }

  // -- the page -----------------------------------------------------------------------------------
  document.documentElement.style.setProperty("--brand", cfg.color);
  $("title").textContent = cfg.title || W.title;
  $("status").textContent = W.online;
  input.placeholder = W.input_placeholder;
  input.maxLength = cfg.max_message_chars + 1;  // one past: the friendly message, not a silent cut
  $("send").textContent = W.send;
  $("close").addEventListener("click", function () { toParent({ type: "close" }); });
  $("close").hidden = window.parent === window;
  $("composer").addEventListener("submit", function (e) { e.preventDefault(); send(input.value); });
  input.addEventListener("keydown", function (e) {
    if (e.key === "Enter" && !e.shiftKey && !e.isComposing) { e.preventDefault(); send(input.value); }
  });
  if (window.parent === window) { state.open = true; start(); }
  else { toParent({ type: "ready" }); setTimeout(start, 1500); }  // widget.js answers at once; else go on
})();
