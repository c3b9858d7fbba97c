/*!
 * Storebot web chat widget.
 *
 * Embed with one tag:
 *   <script src="https://bot.example.com/static/widget.js" defer></script>
 *
 * Optional data attributes on that tag:
 *   data-title="Northwind help"     panel title
 *   data-open="true"                start with the panel open
 *   data-server="https://bot.example.com"   base URL of the bot (default: derived
 *                                   from this script's src, /static/widget.js -> /ws)
 *   data-greeting="..."             intro line shown at the top of the panel
 *   data-accent="#0b6e4f"           accent colour
 *   data-history="false"            do not keep the transcript across reloads
 *   data-max-length="2000"          max characters per message
 *
 * Plain JS, no dependencies, no build step. All server and user text is rendered with
 * textContent / createElement: never innerHTML.
 */
(function () {
  "use strict";

  if (typeof window === "undefined" || typeof document === "undefined") return;
  if (window.__storebotWidgetLoaded) return; // embedded twice: keep the first one
  window.__storebotWidgetLoaded = true;

  var STORAGE_PREFIX = "storebot:";
  var MAX_HISTORY = 60;
  var BACKOFF_START_MS = 500;
  var BACKOFF_MAX_MS = 10000;
  var HELLO_GRACE_MS = 3000;
  var STATUS = {
    idle: "offline",
    connecting: "connecting\u2026",
    connected: "connected",
    reconnecting: "reconnecting\u2026"
  };

  // ------------------------------------------------------------------ config

  function findScript() {
    if (document.currentScript) return document.currentScript;
    var scripts = document.getElementsByTagName("script");
    for (var i = scripts.length - 1; i >= 0; i--) {
      if (/(^|\/)widget\.js(\?|#|$)/.test(scripts[i].getAttribute("src") || "")) return scripts[i];
    }
    return null;
  }

  var script = findScript();
  function attr(name) {
    return script ? script.getAttribute("data-" + name) : null;
  }

  function computeWsUrl() {
    var override = attr("server");
    var u;
    try {
      if (override) {
        u = new URL(override, window.location.href);
        if (!/\/ws\/?$/.test(u.pathname)) {
          u = new URL("ws", u.href.replace(/[?#].*$/, "").replace(/\/*$/, "/"));
        }
      } else if (script && script.src) {
        u = new URL("../ws", script.src); // .../static/widget.js -> .../ws
      } else {
        u = new URL("/ws", window.location.href);
      }
    } catch (e) {
      u = new URL("/ws", window.location.href);
    }
    if (u.protocol === "https:") u.protocol = "wss:";
    else if (u.protocol === "http:") u.protocol = "ws:";
    u.hash = "";
    u.search = "";
    return u.href;
  }

  var maxLength = parseInt(attr("max-length") || "", 10);
  var config = {
    title: attr("title") || "Chat with us",
    greeting:
      attr("greeting") ||
      "Hi! Ask me about orders, shipping, returns or our products. I answer from the store's own policies and show my sources.",
    startOpen: attr("open") === "true",
    keepHistory: attr("history") !== "false",
    accent: attr("accent"),
    maxLength: maxLength > 0 ? maxLength : 2000,
    wsUrl: computeWsUrl()
  };

  // ----------------------------------------------------------------- storage

  var memoryStore = {};
  function storageGet(store, key) {
    try {
      return window[store].getItem(STORAGE_PREFIX + key);
    } catch (e) {
      return Object.prototype.hasOwnProperty.call(memoryStore, store + key) ? memoryStore[store + key] : null;
    }
  }
  function storageSet(store, key, value) {
    try {
      window[store].setItem(STORAGE_PREFIX + key, value);
    } catch (e) {
      memoryStore[store + key] = value;
    }
  }

  function randomId() {
    try {
      if (window.crypto && typeof window.crypto.randomUUID === "function") return window.crypto.randomUUID();
      var bytes = new Uint8Array(16);
      window.crypto.getRandomValues(bytes);
      return Array.prototype.map
        .call(bytes, function (b) {
          return ("0" + b.toString(16)).slice(-2);
        })
        .join("");
    } catch (e) {
      return (Date.now().toString(36) + Math.random().toString(36).slice(2) + Math.random().toString(36).slice(2)).slice(0, 32);
    }
  }

  function getSenderId() {
    var id = storageGet("localStorage", "sender");
    if (!id || !/^[A-Za-z0-9_.:-]{8,128}$/.test(id)) {
      id = randomId();
      storageSet("localStorage", "sender", id);
    }
    return id;
  }

  // A local id for this browser's transcript only; who the customer is to the server is the session
  // it issues (kept below and shown back when reconnecting), never a name the page chooses.
  var senderId = getSenderId();
  var historyKey = "history:" + senderId;

  function getSession() {
    var token = storageGet("localStorage", "session");
    return token && /^v1\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/.test(token) ? token : "";
  }

  // --------------------------------------------------------------------- CSS

  var WIDGET_CSS = [
    ":host{all:initial}",
    ".sb-root{--sb-accent:#0b6e4f;--sb-accent-text:#fff;--sb-bg:#fff;--sb-fg:#1d2327;--sb-muted:#5f6b73;--sb-border:#d9dee2;--sb-bot:#f1f4f6;--sb-error-bg:#fdecec;--sb-error-fg:#8a1c1c;",
    "font-family:system-ui,-apple-system,'Segoe UI',Roboto,'Helvetica Neue',Arial,sans-serif;font-size:14px;line-height:1.45;color:var(--sb-fg);}",
    ".sb-root *,.sb-root *::before,.sb-root *::after{box-sizing:border-box}",
    ".sb-root [hidden]{display:none !important}",
    ".sb-root button,.sb-root textarea{font:inherit;color:inherit}",
    ".sb-root .sb-launcher{position:fixed;right:20px;bottom:20px;z-index:2147483000;width:56px;height:56px;border-radius:50%;border:0;cursor:pointer;",
    "background:var(--sb-accent);color:var(--sb-accent-text);box-shadow:0 4px 14px rgba(0,0,0,.25);display:flex;align-items:center;justify-content:center;padding:0}",
    ".sb-root .sb-launcher svg{width:28px;height:28px;fill:currentColor}",
    ".sb-root .sb-launcher:focus-visible,.sb-root button:focus-visible,.sb-root summary:focus-visible,.sb-root a:focus-visible{outline:3px solid #f5a623;outline-offset:2px}",
    ".sb-root .sb-panel{position:fixed;right:20px;bottom:88px;z-index:2147483001;width:min(380px,calc(100vw - 40px));height:min(600px,calc(100vh - 120px));",
    "display:flex;flex-direction:column;background:var(--sb-bg);border:1px solid var(--sb-border);border-radius:14px;box-shadow:0 12px 40px rgba(0,0,0,.22);overflow:hidden}",
    ".sb-root .sb-header{display:flex;align-items:center;gap:8px;padding:12px 14px;background:var(--sb-accent);color:var(--sb-accent-text)}",
    ".sb-root .sb-header-text{flex:1;min-width:0}",
    ".sb-root .sb-title{margin:0;font-size:15px;font-weight:600;white-space:nowrap;overflow:hidden;text-overflow:ellipsis}",
    ".sb-root .sb-status{display:flex;align-items:center;gap:6px;font-size:12px;opacity:.92}",
    ".sb-root .sb-status::before{content:'';width:8px;height:8px;border-radius:50%;background:#c7cdd1}",
    ".sb-root .sb-status[data-state=connected]::before{background:#5be38f}",
    ".sb-root .sb-status[data-state=reconnecting]::before,.sb-root .sb-status[data-state=connecting]::before{background:#f5c543}",
    ".sb-root .sb-close{background:transparent;border:0;color:inherit;cursor:pointer;font-size:22px;line-height:1;width:32px;height:32px;border-radius:6px}",
    ".sb-root .sb-close:hover{background:rgba(255,255,255,.15)}",
    ".sb-root .sb-body{flex:1;overflow-y:auto;padding:12px 12px 4px;display:flex;flex-direction:column;gap:10px;overscroll-behavior:contain}",
    ".sb-root .sb-greeting{margin:0;color:var(--sb-muted);font-size:13px}",
    ".sb-root .sb-log{display:flex;flex-direction:column;gap:10px}",
    ".sb-root .sb-msg{max-width:88%;padding:8px 11px;border-radius:12px;word-wrap:break-word;overflow-wrap:anywhere}",
    ".sb-root .sb-msg-text{white-space:pre-wrap}",
    ".sb-root .sb-msg[data-role=customer]{align-self:flex-end;background:var(--sb-accent);color:var(--sb-accent-text);border-bottom-right-radius:4px}",
    ".sb-root .sb-msg[data-role=customer][data-state=queued]{opacity:.65}",
    ".sb-root .sb-msg[data-role=bot]{align-self:flex-start;background:var(--sb-bot);border-bottom-left-radius:4px}",
    ".sb-root .sb-msg[data-role=error]{align-self:stretch;max-width:100%;background:var(--sb-error-bg);color:var(--sb-error-fg);font-size:13px}",
    ".sb-root .sb-msg a{color:inherit;text-decoration:underline}",
    ".sb-root .sb-meta{display:block;margin-top:3px;font-size:11px;opacity:.75}",
    ".sb-root .sb-sources{margin-top:8px;padding-top:6px;border-top:1px solid var(--sb-border);display:flex;flex-direction:column;gap:4px}",
    ".sb-root .sb-sources-label{margin:0;font-size:11px;font-weight:600;text-transform:uppercase;letter-spacing:.04em;color:var(--sb-muted)}",
    ".sb-root .sb-source{font-size:12.5px;border-radius:6px;background:rgba(255,255,255,.7)}",
    ".sb-root .sb-source summary{cursor:pointer;padding:3px 6px;color:var(--sb-accent);font-weight:500}",
    ".sb-root .sb-source[open] summary{border-bottom:1px solid var(--sb-border)}",
    ".sb-root .sb-passage{margin:6px 8px;padding:0 0 0 8px;border-left:3px solid var(--sb-accent);white-space:pre-wrap;color:var(--sb-fg)}",
    ".sb-root .sb-doc{margin:0 8px 6px;font-size:11px;color:var(--sb-muted);overflow-wrap:anywhere}",
    ".sb-root .sb-products{margin:8px 0 0;padding:0;list-style:none;display:flex;flex-direction:column;gap:4px}",
    ".sb-root .sb-products li{padding:6px 8px;border:1px solid var(--sb-border);border-radius:8px;background:#fff}",
    ".sb-root .sb-typing{align-self:flex-start;display:flex;gap:4px;padding:10px 12px;margin:0 12px 6px;background:var(--sb-bot);border-radius:12px;width:max-content}",
    ".sb-root .sb-typing span[aria-hidden]{width:7px;height:7px;border-radius:50%;background:var(--sb-muted);animation:sb-bounce 1.2s infinite ease-in-out}",
    ".sb-root .sb-typing span[aria-hidden]:nth-child(2){animation-delay:.15s}",
    ".sb-root .sb-typing span[aria-hidden]:nth-child(3){animation-delay:.3s}",
    "@keyframes sb-bounce{0%,80%,100%{transform:translateY(0);opacity:.5}40%{transform:translateY(-4px);opacity:1}}",
    "@media (prefers-reduced-motion:reduce){.sb-root .sb-typing span[aria-hidden]{animation:none}}",
    ".sb-root .sb-form{display:flex;gap:8px;align-items:flex-end;padding:10px 12px;border-top:1px solid var(--sb-border);background:var(--sb-bg)}",
    ".sb-root .sb-input{flex:1;resize:none;min-height:38px;max-height:120px;padding:8px 10px;border:1px solid var(--sb-border);border-radius:10px;background:#fff;line-height:1.4}",
    ".sb-root .sb-input:focus{outline:2px solid var(--sb-accent);outline-offset:0;border-color:transparent}",
    ".sb-root .sb-send{height:38px;padding:0 14px;border:0;border-radius:10px;background:var(--sb-accent);color:var(--sb-accent-text);cursor:pointer;font-weight:600}",
    ".sb-root .sb-sr{position:absolute !important;width:1px;height:1px;padding:0;margin:-1px;overflow:hidden;clip:rect(0,0,0,0);white-space:nowrap;border:0}",
    "@media (max-width:480px){.sb-root .sb-panel{right:0;bottom:0;width:100vw;height:100%;max-height:100vh;border-radius:0}.sb-root .sb-launcher[aria-expanded=true]{display:none}}"
  ].join("\n");

  // --------------------------------------------------------------- DOM utils

  function el(tag, props, children) {
    var node = document.createElement(tag);
    if (props) {
      for (var key in props) {
        if (!Object.prototype.hasOwnProperty.call(props, key)) continue;
        var value = props[key];
        if (value === null || value === undefined || value === false) continue;
        if (key === "text") node.textContent = String(value);
        else if (key === "className") node.className = value;
        else if (key === "hidden") node.hidden = true;
        else node.setAttribute(key, value === true ? "" : String(value));
      }
    }
    if (children) {
      for (var i = 0; i < children.length; i++) if (children[i]) node.appendChild(children[i]);
    }
    return node;
  }

  function safeHttpUrl(value) {
    if (typeof value !== "string") return null;
    try {
      var u = new URL(value, window.location.href);
      return u.protocol === "http:" || u.protocol === "https:" ? u.href : null;
    } catch (e) {
      return null;
    }
  }

  // Render text with http(s) URLs turned into links; everything else is a text node.
  function appendRichText(parent, text) {
    var re = /\bhttps?:\/\/[^\s<>"']+[^\s<>"'.,;:!?)\]]/g;
    var last = 0;
    var match;
    while ((match = re.exec(text)) !== null) {
      if (match.index > last) parent.appendChild(document.createTextNode(text.slice(last, match.index)));
      var href = safeHttpUrl(match[0]);
      if (href) {
        parent.appendChild(el("a", { href: href, target: "_blank", rel: "noopener noreferrer nofollow", text: match[0] }));
      } else {
        parent.appendChild(document.createTextNode(match[0]));
      }
      last = match.index + match[0].length;
    }
    if (last < text.length) parent.appendChild(document.createTextNode(text.slice(last)));
  }

  function asText(value) {
    if (value === null || value === undefined) return "";
    return typeof value === "string" ? value : String(value);
  }

  function launcherIcon() {
    var ns = "http://www.w3.org/2000/svg";
    var svg = document.createElementNS(ns, "svg");
    svg.setAttribute("viewBox", "0 0 24 24");
    svg.setAttribute("aria-hidden", "true");
    svg.setAttribute("focusable", "false");
    var path = document.createElementNS(ns, "path");
    path.setAttribute(
      "d",
      "M4 3h16a2 2 0 0 1 2 2v11a2 2 0 0 1-2 2H9l-5 4v-4H4a2 2 0 0 1-2-2V5a2 2 0 0 1 2-2zm3 6.5a1.5 1.5 0 1 0 0 3 1.5 1.5 0 0 0 0-3zm5 0a1.5 1.5 0 1 0 0 3 1.5 1.5 0 0 0 0-3zm5 0a1.5 1.5 0 1 0 0 3 1.5 1.5 0 0 0 0-3z"
    );
    svg.appendChild(path);
    return svg;
  }

  // ------------------------------------------------------------------ widget

  var ui = {};
  var state = {
    ws: null,
    ready: false, // got "hello" (or the grace period passed) on the current socket
    started: false, // a connection was requested (panel opened at least once)
    attempt: 0,
    reconnectTimer: null,
    helloTimer: null,
    outbox: [], // [{text, bubble}] not yet handed to an open socket
    pending: 0, // messages sent and still waiting for a reply / error
    streamBubble: null,
    conversationId: null,
    history: []
  };

  function build() {
    var host = el("div", { id: "storebot-widget", "data-storebot": "" });
    var root;
    if (host.attachShadow) {
      root = host.attachShadow({ mode: "open" });
      root.appendChild(el("style", { text: WIDGET_CSS }));
    } else {
      root = host;
      if (!document.getElementById("storebot-widget-style")) {
        document.head.appendChild(el("style", { id: "storebot-widget-style", text: WIDGET_CSS }));
      }
    }
    var wrap = el("div", { className: "sb-root" });
    if (config.accent && window.CSS && window.CSS.supports && window.CSS.supports("color", config.accent)) {
      wrap.style.setProperty("--sb-accent", config.accent);
    }

    ui.launcher = el(
      "button",
      {
        type: "button",
        className: "sb-launcher",
        "data-testid": "chat-launcher",
        "aria-label": "Open chat: " + config.title,
        "aria-expanded": "false",
        "aria-controls": "storebot-panel",
        "aria-haspopup": "dialog"
      },
      [launcherIcon()]
    );

    ui.title = el("h2", { className: "sb-title", id: "storebot-title", text: config.title });
    ui.status = el("span", {
      className: "sb-status",
      "data-testid": "chat-status",
      "data-state": "idle",
      role: "status",
      "aria-live": "polite",
      text: STATUS.idle
    });
    ui.close = el("button", { type: "button", className: "sb-close", "aria-label": "Close chat", text: "\u00d7" });

    ui.log = el("div", {
      className: "sb-log",
      "data-testid": "chat-log",
      role: "log",
      "aria-live": "polite",
      "aria-relevant": "additions",
      "aria-label": "Conversation"
    });
    ui.body = el("div", { className: "sb-body" }, [el("p", { className: "sb-greeting", text: config.greeting }), ui.log]);

    ui.typing = el(
      "div",
      { className: "sb-typing", "data-testid": "chat-typing", hidden: true },
      [
        el("span", { "aria-hidden": "true" }),
        el("span", { "aria-hidden": "true" }),
        el("span", { "aria-hidden": "true" }),
        el("span", { className: "sb-sr", text: "The assistant is typing\u2026" })
      ]
    );

    ui.input = el("textarea", {
      className: "sb-input",
      "data-testid": "chat-input",
      rows: "1",
      maxlength: String(config.maxLength),
      placeholder: "Type your question\u2026",
      "aria-label": "Your message",
      autocomplete: "off"
    });
    ui.send = el("button", { type: "submit", className: "sb-send", "data-testid": "chat-send", "aria-label": "Send message", text: "Send" });
    ui.form = el("form", { className: "sb-form", novalidate: true }, [ui.input, ui.send]);

    ui.panel = el(
      "section",
      {
        className: "sb-panel",
        id: "storebot-panel",
        "data-testid": "chat-panel",
        role: "dialog",
        "aria-modal": "false",
        "aria-labelledby": "storebot-title",
        hidden: true
      },
      [el("div", { className: "sb-header" }, [el("div", { className: "sb-header-text" }, [ui.title, ui.status]), ui.close]), ui.body, ui.typing, ui.form]
    );

    wrap.appendChild(ui.panel);
    wrap.appendChild(ui.launcher);
    root.appendChild(wrap);
    document.body.appendChild(host);
    ui.host = host;

    ui.launcher.addEventListener("click", function () {
      if (ui.panel.hidden) openPanel(true);
      else closePanel(true);
    });
    ui.close.addEventListener("click", function () {
      closePanel(true);
    });
    ui.panel.addEventListener("keydown", function (e) {
      if (e.key === "Escape") {
        e.preventDefault();
        closePanel(true);
      }
    });
    ui.form.addEventListener("submit", function (e) {
      e.preventDefault();
      submitInput();
    });
    ui.input.addEventListener("keydown", function (e) {
      // Enter sends, Shift+Enter adds a newline; never send while an IME is composing.
      if (e.key === "Enter" && !e.shiftKey && !e.isComposing && e.keyCode !== 229) {
        e.preventDefault();
        submitInput();
      }
    });
    ui.input.addEventListener("input", autoGrow);
  }

  function autoGrow() {
    ui.input.style.height = "auto";
    ui.input.style.height = Math.min(ui.input.scrollHeight + 2, 120) + "px";
  }

  function openPanel(focus) {
    ui.panel.hidden = false;
    ui.launcher.setAttribute("aria-expanded", "true");
    ui.launcher.setAttribute("aria-label", "Close chat: " + config.title);
    storageSet("sessionStorage", "open", "1");
    scrollToEnd();
    if (focus) ui.input.focus();
    ensureConnection();
  }

  function closePanel(focusLauncher) {
    ui.panel.hidden = true;
    ui.launcher.setAttribute("aria-expanded", "false");
    ui.launcher.setAttribute("aria-label", "Open chat: " + config.title);
    storageSet("sessionStorage", "open", "0");
    if (focusLauncher) ui.launcher.focus();
  }

  function scrollToEnd() {
    ui.body.scrollTop = ui.body.scrollHeight;
  }

  function setStatus(key) {
    ui.status.setAttribute("data-state", key);
    ui.status.textContent = STATUS[key];
  }

  function setTyping() {
    ui.typing.hidden = !(state.pending > 0 && !state.streamBubble);
    if (!ui.typing.hidden) scrollToEnd();
  }

  // ---------------------------------------------------------------- messages

  function messageBubble(role) {
    return el("div", { className: "sb-msg", "data-testid": "chat-message", "data-role": role });
  }

  function addCustomerMessage(text, queued) {
    var bubble = messageBubble("customer");
    bubble.setAttribute("data-state", queued ? "queued" : "sent");
    var body = el("div", { className: "sb-msg-text" });
    appendRichText(body, text);
    bubble.appendChild(el("span", { className: "sb-sr", text: "You said: " }));
    bubble.appendChild(body);
    if (queued) bubble.appendChild(el("span", { className: "sb-meta", "data-testid": "chat-queued", text: "Will be sent when reconnected" }));
    ui.log.appendChild(bubble);
    scrollToEnd();
    return bubble;
  }

  function markSent(bubble) {
    if (!bubble) return;
    bubble.setAttribute("data-state", "sent");
    var note = bubble.querySelector(".sb-meta");
    if (note) note.parentNode.removeChild(note);
  }

  function renderSources(sources) {
    var list = [];
    if (Array.isArray(sources)) {
      for (var i = 0; i < sources.length; i++) {
        if (sources[i] && typeof sources[i] === "object") list.push(sources[i]);
      }
    }
    if (!list.length) return null;
    var box = el("div", { className: "sb-sources", role: "group", "aria-label": "Sources" }, [el("p", { className: "sb-sources-label", text: "Sources" })]);
    for (var j = 0; j < list.length; j++) {
      var src = list[j];
      var title = asText(src.title) || asText(src.document) || "Source " + (j + 1);
      var details = el("details", { className: "sb-source", "data-testid": "chat-source" });
      if (src.document) details.setAttribute("data-document", asText(src.document));
      if (typeof src.score === "number" && isFinite(src.score)) details.setAttribute("data-score", String(src.score));
      var summary = el("summary", { "data-testid": "chat-source-title", text: "[" + (j + 1) + "] " + title });
      summary.setAttribute("aria-label", "Source " + (j + 1) + ": " + title + ". Show passage");
      details.appendChild(summary);
      details.appendChild(el("blockquote", { className: "sb-passage", "data-testid": "chat-source-passage", text: asText(src.passage) || "(no passage)" }));
      if (src.document && asText(src.document) !== title) {
        details.appendChild(el("p", { className: "sb-doc", text: asText(src.document) }));
      }
      box.appendChild(details);
    }
    return box;
  }

  function formatPrice(price, currency) {
    var value = typeof price === "number" ? price : parseFloat(price);
    if (!isFinite(value)) return asText(price);
    var code = asText(currency).toUpperCase();
    return code === "USD" || !code ? "$" + value.toFixed(2) : value.toFixed(2) + " " + code;
  }

  function renderProducts(products) {
    if (!Array.isArray(products)) return null;
    var items = [];
    for (var i = 0; i < products.length; i++) {
      var p = products[i];
      if (!p || typeof p !== "object") continue;
      var name = asText(p.name || p.title);
      if (!name) continue;
      var li = el("li", { "data-testid": "chat-product" });
      var href = safeHttpUrl(p.url);
      li.appendChild(href ? el("a", { href: href, target: "_blank", rel: "noopener noreferrer", text: name }) : el("span", { text: name }));
      if (p.sku) li.appendChild(el("span", { className: "sb-meta", "data-testid": "chat-product-sku", text: " SKU " + asText(p.sku) }));
      if (p.price !== undefined && p.price !== null && p.price !== "") li.appendChild(el("span", { className: "sb-meta", "data-testid": "chat-product-price", text: " " + formatPrice(p.price, p.currency) }));
      items.push(li);
    }
    return items.length ? el("ul", { className: "sb-products", "aria-label": "Products" }, items) : null;
  }

  function fillBotBubble(bubble, data) {
    while (bubble.firstChild) bubble.removeChild(bubble.firstChild);
    bubble.removeAttribute("data-streaming");
    bubble.appendChild(el("span", { className: "sb-sr", text: "Assistant: " }));
    var body = el("div", { className: "sb-msg-text" });
    appendRichText(body, asText(data.text));
    bubble.appendChild(body);
    if (typeof data.confidence === "number" && isFinite(data.confidence)) bubble.setAttribute("data-confidence", String(data.confidence));
    var products = renderProducts(data.products);
    if (products) bubble.appendChild(products);
    var sources = renderSources(data.sources);
    if (sources) bubble.appendChild(sources);
  }

  function addBotMessage(data, bubble) {
    if (!bubble) {
      bubble = messageBubble("bot");
      ui.log.appendChild(bubble);
    }
    fillBotBubble(bubble, data);
    scrollToEnd();
    return bubble;
  }

  function addErrorMessage(text) {
    var bubble = messageBubble("error");
    bubble.setAttribute("role", "alert");
    bubble.appendChild(el("div", { className: "sb-msg-text", text: text }));
    ui.log.appendChild(bubble);
    scrollToEnd();
    return bubble;
  }

  // ----------------------------------------------------------------- history

  function remember(entry) {
    if (!config.keepHistory) return;
    state.history.push(entry);
    if (state.history.length > MAX_HISTORY) state.history.splice(0, state.history.length - MAX_HISTORY);
    try {
      storageSet("localStorage", historyKey, JSON.stringify(state.history));
    } catch (e) {
      /* quota: ignore */
    }
  }

  function restoreHistory() {
    if (!config.keepHistory) return;
    var raw = storageGet("localStorage", historyKey);
    if (!raw) return;
    var entries;
    try {
      entries = JSON.parse(raw);
    } catch (e) {
      return;
    }
    if (!Array.isArray(entries)) return;
    for (var i = 0; i < entries.length && i < MAX_HISTORY; i++) {
      var e = entries[i];
      if (!e || typeof e !== "object" || typeof e.text !== "string") continue;
      var bubble = e.role === "customer" ? addCustomerMessage(e.text, false) : e.role === "bot" ? addBotMessage(e) : null;
      if (!bubble) continue;
      bubble.setAttribute("data-restored", "true");
      state.history.push(e);
    }
  }

  // -------------------------------------------------------------- connection

  function ensureConnection() {
    if (state.started) return;
    state.started = true;
    connect();
  }

  function connect() {
    clearTimeout(state.reconnectTimer);
    state.reconnectTimer = null;
    setStatus(state.attempt === 0 ? "connecting" : "reconnecting");
    var session = getSession();
    var url = config.wsUrl + (session ? "?session=" + encodeURIComponent(session) : "");
    var sock;
    try {
      sock = new WebSocket(url);
    } catch (e) {
      scheduleReconnect();
      return;
    }
    state.ws = sock;
    state.ready = false;

    sock.addEventListener("open", function () {
      if (sock !== state.ws) return;
      // The server greets with "hello"; if an older server does not, go ahead anyway.
      state.helloTimer = setTimeout(function () {
        if (sock === state.ws && !state.ready) markReady();
      }, HELLO_GRACE_MS);
    });
    sock.addEventListener("message", function (ev) {
      if (sock !== state.ws) return;
      handleFrame(ev.data);
    });
    sock.addEventListener("close", function () {
      if (sock !== state.ws) return;
      handleDisconnect();
    });
    // "error" is always followed by "close", which does the work.
  }

  function markReady() {
    clearTimeout(state.helloTimer);
    state.ready = true;
    state.attempt = 0;
    setStatus("connected");
    flushOutbox();
  }

  function handleDisconnect() {
    clearTimeout(state.helloTimer);
    state.ws = null;
    state.ready = false;
    if (state.streamBubble) {
      // Partial streamed answer: keep what arrived, flag it as cut off.
      state.streamBubble.setAttribute("data-incomplete", "true");
      state.streamBubble.removeAttribute("data-streaming");
      state.streamBubble = null;
    }
    if (state.pending > 0) {
      state.pending = 0;
      addErrorMessage("The connection dropped before I could answer. Please ask again once I'm reconnected.");
    }
    setTyping();
    scheduleReconnect();
  }

  function scheduleReconnect() {
    setStatus("reconnecting");
    var delay = Math.min(BACKOFF_MAX_MS, BACKOFF_START_MS * Math.pow(2, state.attempt));
    delay = Math.min(BACKOFF_MAX_MS, delay * (1 + Math.random() * 0.2)); // jitter avoids reconnect stampedes
    state.attempt += 1;
    clearTimeout(state.reconnectTimer);
    state.reconnectTimer = setTimeout(connect, delay);
  }

  function reconnectNow() {
    if (state.started && !state.ws && state.reconnectTimer) connect();
  }
  window.addEventListener("online", reconnectNow);
  document.addEventListener("visibilitychange", function () {
    if (document.visibilityState === "visible") reconnectNow();
  });

  function flushOutbox() {
    while (state.outbox.length && state.ready && state.ws && state.ws.readyState === WebSocket.OPEN) {
      var item = state.outbox[0];
      try {
        // The id makes a repeat harmless: the server answers it with the stored reply.
        state.ws.send(JSON.stringify({ type: "message", text: item.text, message_id: item.id }));
      } catch (e) {
        return; // stays queued; the close handler will reconnect
      }
      state.outbox.shift(); // handed to the socket exactly once: never re-sent
      markSent(item.bubble);
      state.pending += 1;
    }
    setTyping();
  }

  function setConversation(id) {
    if (typeof id !== "string" || !id) return;
    state.conversationId = id;
    ui.panel.setAttribute("data-conversation-id", id);
  }

  function handleFrame(raw) {
    var frame;
    try {
      frame = JSON.parse(raw);
    } catch (e) {
      return;
    }
    if (!frame || typeof frame !== "object") return;
    switch (frame.type) {
      case "hello":
        if (typeof frame.session === "string") storageSet("localStorage", "session", frame.session);
        // A conversation exists once the first message is sent; until then hello names none.
        setConversation(frame.conversation_id);
        markReady();
        break;
      case "token":
        if (typeof frame.text !== "string") return;
        if (!state.streamBubble) {
          state.streamBubble = messageBubble("bot");
          state.streamBubble.setAttribute("data-streaming", "true");
          state.streamBubble.appendChild(el("div", { className: "sb-msg-text" }));
          ui.log.appendChild(state.streamBubble);
          setTyping();
        }
        state.streamBubble.lastChild.appendChild(document.createTextNode(frame.text));
        scrollToEnd();
        break;
      case "reply": {
        setConversation(frame.conversation_id);
        var data = {
          text: asText(frame.text),
          sources: Array.isArray(frame.sources) ? frame.sources : [],
          products: Array.isArray(frame.products) ? frame.products : [],
          confidence: frame.confidence
        };
        addBotMessage(data, state.streamBubble);
        state.streamBubble = null;
        state.pending = Math.max(0, state.pending - 1);
        setTyping();
        remember({ role: "bot", text: data.text, sources: data.sources, products: data.products, confidence: data.confidence });
        break;
      }
      case "waiting":
        // A person has this conversation: the message was delivered to them; the bot stays quiet.
        state.pending = Math.max(0, state.pending - 1);
        ui.panel.setAttribute("data-owner", "human");
        setTyping();
        break;
      case "error":
        if (state.streamBubble) {
          state.streamBubble.setAttribute("data-incomplete", "true");
          state.streamBubble.removeAttribute("data-streaming");
          state.streamBubble = null;
        }
        addErrorMessage("Sorry: " + (asText(frame.error) || "something went wrong. Please try again."));
        state.pending = Math.max(0, state.pending - 1);
        setTyping();
        break;
      default:
        // Unknown frame types are ignored so that newer servers keep working.
        break;
    }
  }

  function submitInput() {
    var text = ui.input.value;
    if (!text.trim()) {
      ui.input.value = "";
      ui.input.focus();
      return;
    }
    if (text.length > config.maxLength) text = text.slice(0, config.maxLength);
    ui.input.value = "";
    autoGrow();
    sendText(text.trim());
    ui.input.focus();
  }

  function sendText(text) {
    var queued = !(state.ready && state.ws && state.ws.readyState === WebSocket.OPEN);
    var bubble = addCustomerMessage(text, queued);
    remember({ role: "customer", text: text });
    state.outbox.push({ text: text, bubble: bubble, id: randomId() });
    ensureConnection();
    flushOutbox();
  }

  // -------------------------------------------------------------------- init

  function init() {
    if (!document.body) return;
    build();
    restoreHistory();
    if (config.startOpen || storageGet("sessionStorage", "open") === "1") openPanel(false);
    window.StorebotWidget = {
      open: function () {
        openPanel(true);
      },
      close: function () {
        closePanel(false);
      },
      send: function (text) {
        if (typeof text === "string" && text.trim()) sendText(text.trim());
      },
      get conversationId() {
        return state.conversationId;
      }
    };
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
