/*! csbot chat widget — plain JS, no build step.
 * Embed: <script src="https://HOST/widget.js" data-tenant="demo" async></script>
 * Optional: data-locale="zh|en", data-user-id, data-user-hash, data-color="#0a7", data-position="left|right",
 * data-open="true".
 * Isolation: everything lives in a shadow root; no globals are defined; message text is only ever
 * inserted with textContent / createTextNode (never innerHTML).
 */
(function () {
  "use strict";

  var script = document.currentScript;
  if (!script) {
    var all = document.querySelectorAll("script[data-tenant]");
    for (var i = 0; i < all.length; i++) {
      if (/\/widget\.js(\?|$)/.test(all[i].src)) { script = all[i]; }
    }
  }
  if (!script || !script.dataset.tenant) { return; }

  var cfg = {
    tenant: script.dataset.tenant,
    userId: script.dataset.userId || null,
    userHash: script.dataset.userHash || null,
    locale: script.dataset.locale || null,
    color: script.dataset.color || "#1f6feb",
    position: script.dataset.position === "left" ? "left" : "right",
    open: script.dataset.open === "true"
  };
  var base = new URL(script.src, location.href).origin;
  var wsBase = base.replace(/^http/, "ws");
  var lang = (cfg.locale || navigator.language || "zh").toLowerCase().indexOf("en") === 0 ? "en" : "zh";
  var locale = lang === "en" ? "en" : "zh-CN";
  if (!window.CSS || !CSS.supports("color", cfg.color)) { cfg.color = "#1f6feb"; }

  var TEXTS = {
    zh: {
      title: "在线客服", launcher: "打开在线客服", close: "关闭", placeholder: "输入您的问题…", send: "发送",
      human: "转人工", humanLabel: "联系人工客服", typing: "正在输入…", operatorTyping: "{name} 正在输入…",
      bot: "智能助手", operator: "客服 {name}", serving: "客服 {name} 为您服务", waiting: "正在等待人工客服…",
      identityRefused: "身份验证失败，已以访客身份继续。", offline: "连接已断开，正在重连…",
      rateLimited: "发送太频繁，请 {s} 秒后再试。", up: "有帮助", down: "没帮助", thanks: "感谢反馈",
      failed: "发送失败", closed: "会话已结束", you: "我",
    },
    en: {
      title: "Customer service", launcher: "Open chat", close: "Close", placeholder: "Type your question…", send: "Send",
      human: "Talk to a person", humanLabel: "Talk to a person", typing: "Typing…", operatorTyping: "{name} is typing…",
      bot: "Assistant", operator: "{name}", serving: "{name} is answering you", waiting: "Waiting for a person…",
      identityRefused: "We could not verify your account; continuing as a guest.", offline: "Connection lost, reconnecting…",
      rateLimited: "Too many messages; try again in {s} s.", up: "Helpful", down: "Not helpful", thanks: "Thanks for the feedback",
      failed: "Not sent", closed: "Conversation closed", you: "You",
    }
  };
  function t(key, vars) {
    var s = TEXTS[lang][key] || key;
    if (vars) { Object.keys(vars).forEach(function (k) { s = s.split("{" + k + "}").join(String(vars[k])); }); }
    return s;
  }

  // ---------- DOM helpers (text only) ----------
  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    if (attrs) {
      Object.keys(attrs).forEach(function (k) {
        if (k === "text") { node.textContent = attrs[k]; }
        else if (k === "class") { node.className = attrs[k]; }
        else if (k.indexOf("on") === 0) { node.addEventListener(k.slice(2), attrs[k]); }
        else { node.setAttribute(k, attrs[k]); }
      });
    }
    (children || []).forEach(function (c) { if (c) { node.appendChild(c); } });
    return node;
  }

  // A small markdown subset: paragraphs, line breaks, "- " / "1. " lists, **bold**, `code`,
  // [label](http(s) url) and bare http(s) links. Built from text nodes, so markup in a message is shown as text.
  var INLINE = /(\*\*([^*]+)\*\*|`([^`]+)`|\[([^\]]+)\]\((https?:\/\/[^\s)]+)\)|(https?:\/\/[^\s<>"')]+))/g;
  function safeUrl(u) {
    try { var p = new URL(u); return (p.protocol === "http:" || p.protocol === "https:") ? p.href : null; }
    catch (e) { return null; }
  }
  function inline(parent, text) {
    var last = 0, m;
    INLINE.lastIndex = 0;
    while ((m = INLINE.exec(text)) !== null) {
      if (m.index > last) { parent.appendChild(document.createTextNode(text.slice(last, m.index))); }
      if (m[2] !== undefined) { parent.appendChild(el("strong", { text: m[2] })); }
      else if (m[3] !== undefined) { parent.appendChild(el("code", { text: m[3] })); }
      else {
        var label = m[4] !== undefined ? m[4] : m[6];
        var href = safeUrl(m[4] !== undefined ? m[5] : m[6]);
        if (href) { parent.appendChild(el("a", { href: href, target: "_blank", rel: "noopener noreferrer nofollow", text: label })); }
        else { parent.appendChild(document.createTextNode(m[0])); }
      }
      last = INLINE.lastIndex;
    }
    if (last < text.length) { parent.appendChild(document.createTextNode(text.slice(last))); }
  }
  function renderMarkdown(container, text) {
    while (container.firstChild) { container.removeChild(container.firstChild); }
    var lines = String(text || "").split(/\r?\n/);
    var para = null, list = null, listType = null;
    lines.forEach(function (line) {
      var ul = /^\s*[-*•]\s+(.*)$/.exec(line), ol = /^\s*\d+[.)、]\s*(.*)$/.exec(line);
      if (ul || ol) {
        var type = ul ? "ul" : "ol";
        if (!list || listType !== type) { list = el(type); listType = type; container.appendChild(list); }
        var li = el("li"); inline(li, (ul || ol)[1]); list.appendChild(li); para = null;
      } else if (!line.trim()) {
        para = null; list = null;
      } else {
        list = null;
        if (!para) { para = el("p"); container.appendChild(para); }
        else { para.appendChild(el("br")); }
        inline(para, line);
      }
    });
  }

  // ---------- UI ----------
  var host = el("div", { id: "csbot-widget", "data-tenant": cfg.tenant });
  var root = host.attachShadow({ mode: "open" });
  var style = el("style");
  style.textContent = [
    // `all: initial !important` shields the host element from the page's rules, so every other
    // property of :host must be !important too to win over it
    ":host{all:initial !important;position:fixed !important;z-index:2147483000 !important;bottom:20px !important;" + cfg.position + ":20px !important;}",
    ".w{--accent:" + cfg.color + ";font:14px/1.5 -apple-system,BlinkMacSystemFont,'Segoe UI','PingFang SC','Microsoft YaHei',sans-serif;color:#1f2328;}",
    ".w *{box-sizing:border-box;font:inherit;}",
    "button{all:unset;cursor:pointer;box-sizing:border-box;}",
    "button:focus-visible,textarea:focus-visible,a:focus-visible{outline:2px solid var(--accent);outline-offset:2px;}",
    ".launcher{width:56px;height:56px;border-radius:50%;background:var(--accent);color:#fff;display:flex;align-items:center;justify-content:center;box-shadow:0 4px 14px rgba(0,0,0,.25);font-size:26px;}",
    ".panel{display:none;flex-direction:column;width:370px;height:560px;max-height:calc(100vh - 40px);background:#fff;border-radius:14px;box-shadow:0 8px 30px rgba(0,0,0,.25);overflow:hidden;}",
    ".w.open .panel{display:flex;} .w.open .launcher{display:none;}",
    ".head{background:var(--accent);color:#fff;padding:12px 14px;display:flex;align-items:center;gap:8px;}",
    ".head .titles{flex:1;min-width:0;} .head .title{font-weight:600;font-size:15px;} .head .sub{font-size:12px;opacity:.9;white-space:nowrap;overflow:hidden;text-overflow:ellipsis;}",
    ".head button{padding:4px 8px;border-radius:6px;font-size:12px;background:rgba(255,255,255,.18);color:#fff;}",
    ".head button.x{font-size:18px;line-height:1;padding:2px 8px;}",
    ".notice{display:none;background:#fff8c5;color:#6b5200;font-size:12px;padding:6px 12px;} .notice.on{display:block;}",
    ".log{flex:1;overflow-y:auto;padding:12px;background:#f6f8fa;display:flex;flex-direction:column;gap:8px;}",
    ".msg{max-width:82%;display:flex;flex-direction:column;gap:4px;} .msg.user{align-self:flex-end;align-items:flex-end;} .msg.bot,.msg.operator{align-self:flex-start;}",
    ".who{font-size:11px;color:#656d76;}",
    ".bubble{padding:8px 12px;border-radius:12px;background:#fff;border:1px solid #d0d7de;word-wrap:break-word;overflow-wrap:anywhere;white-space:normal;}",
    ".msg.user .bubble{background:var(--accent);color:#fff;border-color:transparent;white-space:pre-wrap;}",
    ".msg.operator .bubble{border-color:var(--accent);}",
    ".msg.pending .bubble{opacity:.7;} .msg.failed .bubble{border:1px solid #cf222e;}",
    ".bubble p{margin:0 0 6px;} .bubble p:last-child{margin:0;} .bubble ul,.bubble ol{margin:4px 0;padding-left:20px;}",
    ".bubble code{background:#eff1f3;border-radius:4px;padding:0 4px;font-family:ui-monospace,monospace;} .bubble a{color:var(--accent);}",
    ".sys{align-self:center;font-size:12px;color:#656d76;text-align:center;padding:2px 8px;}",
    ".sugs{display:flex;flex-wrap:wrap;gap:6px;}",
    ".sug{border:1px solid var(--accent);color:var(--accent);background:#fff;border-radius:14px;padding:4px 10px;font-size:13px;}",
    ".rate{display:flex;gap:4px;} .rate button{font-size:13px;padding:0 6px;border-radius:6px;color:#656d76;} .rate button[aria-pressed=true]{background:#ddf4ff;color:#0969da;}",
    ".typing{display:none;font-size:12px;color:#656d76;padding:0 14px 4px;background:#f6f8fa;} .typing.on{display:block;}",
    ".foot{display:flex;gap:8px;padding:10px;border-top:1px solid #d0d7de;background:#fff;}",
    "textarea{flex:1;resize:none;border:1px solid #d0d7de;border-radius:8px;padding:8px;height:40px;max-height:120px;color:#1f2328;background:#fff;}",
    ".send{background:var(--accent);color:#fff;border-radius:8px;padding:0 14px;display:flex;align-items:center;}",
    "@media (max-width:480px){:host{bottom:12px !important;" + cfg.position + ":12px !important;} .w.open .panel{position:fixed;inset:0;width:100vw;height:100vh;max-height:none;border-radius:0;}}"
  ].join("\n");

  var wrap = el("div", { class: "w", part: "widget" });
  var launcher = el("button", { class: "launcher", type: "button", "aria-label": t("launcher"), "aria-expanded": "false", text: "💬" });
  var titleEl = el("div", { class: "title", text: t("title") });
  var subEl = el("div", { class: "sub", text: t("bot"), "aria-live": "polite" });
  var humanBtn = el("button", { class: "human", type: "button", "aria-label": t("humanLabel"), text: t("human") });
  var closeBtn = el("button", { class: "x", type: "button", "aria-label": t("close"), text: "×" });
  var notice = el("div", { class: "notice", role: "status" });
  var logEl = el("div", { class: "log", role: "log", "aria-live": "polite", "aria-label": t("title") });
  var typingEl = el("div", { class: "typing", "aria-live": "polite" });
  var input = el("textarea", { rows: "1", placeholder: t("placeholder"), "aria-label": t("placeholder"), maxlength: "2000" });
  var sendBtn = el("button", { class: "send", type: "button", "aria-label": t("send"), text: t("send") });
  var panel = el("div", { class: "panel", role: "dialog", "aria-label": t("title") }, [
    el("div", { class: "head" }, [el("div", { class: "titles" }, [titleEl, subEl]), humanBtn, closeBtn]),
    notice, logEl, typingEl, el("div", { class: "foot" }, [input, sendBtn])
  ]);
  wrap.appendChild(launcher); wrap.appendChild(panel);
  root.appendChild(style); root.appendChild(wrap);

  function openPanel() {
    wrap.classList.add("open"); launcher.setAttribute("aria-expanded", "true");
    setTimeout(function () { input.focus(); scrollDown(); }, 0);
  }
  function closePanel() {
    wrap.classList.remove("open"); launcher.setAttribute("aria-expanded", "false"); launcher.focus();
  }
  launcher.addEventListener("click", openPanel);
  closeBtn.addEventListener("click", closePanel);
  panel.addEventListener("keydown", function (e) { if (e.key === "Escape") { closePanel(); } });
  input.addEventListener("keydown", function (e) {
    if (e.key === "Enter" && !e.shiftKey && !e.isComposing) { e.preventDefault(); submit(); }
  });
  sendBtn.addEventListener("click", submit);
  humanBtn.addEventListener("click", function () { send({ type: "handoff" }); });

  function scrollDown() { logEl.scrollTop = logEl.scrollHeight; }
  function showNotice(text, ms) {
    notice.textContent = text; notice.classList.add("on");
    if (ms) { setTimeout(function () { if (notice.textContent === text) { notice.classList.remove("on"); } }, ms); }
  }
  function hideNotice(text) { if (!text || notice.textContent === text) { notice.classList.remove("on"); } }
  function setTyping(on, author) {
    typingEl.textContent = on ? (author ? t("operatorTyping", { name: author }) : t("typing")) : "";
    typingEl.classList.toggle("on", !!on);
  }
  var convStatus = "new";
  function setStatus(status, operator) {
    convStatus = status;
    wrap.setAttribute("data-status", status);
    if (status === "handoff") { subEl.textContent = operator ? t("serving", { name: operator }) : t("waiting"); }
    else if (status === "closed") { subEl.textContent = t("closed"); }
    else { subEl.textContent = t("bot"); }
    humanBtn.style.display = status === "handoff" ? "none" : "";
  }

  // ---------- messages: rendered once per id ----------
  var seen = {};          // message id -> true
  var lastSeq = 0;
  var byTurn = {};        // turn id -> {user: node, bot: node, botText: string}
  var outbox = [];        // {client_id, text} not yet acknowledged

  function newId() {
    var a = new Uint8Array(16); crypto.getRandomValues(a);
    return Array.prototype.map.call(a, function (b) { return ("0" + b.toString(16)).slice(-2); }).join("");
  }
  function turnSlot(id) { return byTurn[id] || (byTurn[id] = { user: null, bot: null, botText: "" }); }

  function userNode(text, id) {
    var n = el("div", { class: "msg user", "data-role": "user" }, [el("div", { class: "bubble", text: text })]);
    if (id) { n.setAttribute("data-id", id); }
    logEl.appendChild(n); scrollDown(); return n;
  }
  function botNode(role, author) {
    var who = role === "operator" ? t("operator", { name: author || "" }) : t("bot");
    var n = el("div", { class: "msg " + role, "data-role": role }, [el("div", { class: "who", text: who }), el("div", { class: "bubble" })]);
    logEl.appendChild(n); scrollDown(); return n;
  }
  function fillBot(node, text, suggestions, turnId, final) {
    var bubble = node.querySelector(".bubble");
    if (final) { renderMarkdown(bubble, text); } else { bubble.textContent = text; }
    var old = node.querySelector(".sugs"); if (old) { node.removeChild(old); }
    if (final && suggestions && suggestions.length) {
      var box = el("div", { class: "sugs" });
      suggestions.forEach(function (s) {
        box.appendChild(el("button", { class: "sug", type: "button", text: s.text,
          onclick: function () { sendText(s.payload || s.text, s.text); } }));
      });
      node.appendChild(box);
    }
    if (final && turnId && node.getAttribute("data-role") === "bot" && !node.querySelector(".rate")) {
      var up = el("button", { type: "button", "aria-label": t("up"), "aria-pressed": "false", text: "👍" });
      var down = el("button", { type: "button", "aria-label": t("down"), "aria-pressed": "false", text: "👎" });
      function rate(which, btn, other) {
        send({ type: "feedback", turn_id: turnId, rating: which });
        btn.setAttribute("aria-pressed", "true"); other.setAttribute("aria-pressed", "false");
      }
      up.addEventListener("click", function () { rate("up", up, down); });
      down.addEventListener("click", function () { rate("down", down, up); });
      node.appendChild(el("div", { class: "rate" }, [up, down]));
    }
    scrollDown();
  }
  function systemNode(m) {
    var n = el("div", { class: "sys", "data-role": "system", "data-event": m.event || "", text: m.text });
    logEl.appendChild(n); scrollDown(); return n;
  }

  // A stored message from the server (history, sync or live): shown once, matched to what streamed.
  function addServerMessage(m) {
    if (!m || !m.id || seen[m.id]) { return; }
    seen[m.id] = true;
    if (m.seq > lastSeq) { lastSeq = m.seq; }
    var slot = m.turn_id ? byTurn[m.turn_id] : null;
    if (m.role === "user") {
      if (slot && slot.user) { slot.user.setAttribute("data-id", m.id); slot.user.classList.remove("pending", "failed"); return; }
      var un = userNode(m.text, m.id);
      if (m.turn_id) { turnSlot(m.turn_id).user = un; }
    } else if (m.role === "bot") {
      if (slot && slot.bot) { slot.bot.setAttribute("data-id", m.id); fillBot(slot.bot, m.text, m.suggestions, m.turn_id, true); return; }
      var bn = botNode("bot"); bn.setAttribute("data-id", m.id);
      fillBot(bn, m.text, m.suggestions, m.turn_id, true);
      if (m.turn_id) { turnSlot(m.turn_id).bot = bn; }
    } else if (m.role === "operator") {
      setTyping(false);
      var on = botNode("operator", m.author); on.setAttribute("data-id", m.id);
      fillBot(on, m.text, m.suggestions, null, true);
    } else {
      systemNode(m).setAttribute("data-id", m.id);
    }
  }

  // ---------- session, history, socket ----------
  var storeKey = "csbot:" + cfg.tenant + ":" + (cfg.userId || "anon");
  var session = null, ws = null, retry = 0, identityRefused = false;

  function loadStored(key) { try { return JSON.parse(localStorage.getItem(key) || "null"); } catch (e) { return null; } }
  function store(key, value) { try { localStorage.setItem(key, JSON.stringify(value)); } catch (e) { /* private mode */ } }

  function startSession() {
    var body = { tenant: cfg.tenant };
    if (cfg.locale) { body.locale = locale; }  // else the server guesses each message's language
    var key = storeKey;
    if (cfg.userId && !identityRefused) { body.user_id = cfg.userId; body.user_hash = cfg.userHash || ""; }
    else { key = "csbot:" + cfg.tenant + ":anon"; }
    var prev = loadStored(key);
    if (prev && prev.token && prev.expires_at * 1000 > Date.now()) { body.visitor_token = prev.token; }
    return fetch(base + "/v1/widget/session", {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body), credentials: "omit"
    }).then(function (r) {
      if (r.status === 401 && body.user_id) {
        identityRefused = true;
        wrap.setAttribute("data-identity", "refused");
        showNotice(t("identityRefused"));
        return startSession();
      }
      if (!r.ok) { throw new Error("session " + r.status); }
      return r.json().then(function (s) {
        session = s; store(key, { token: s.token, expires_at: s.expires_at });
        wrap.setAttribute("data-identity", s.identified ? "verified" : (identityRefused ? "refused" : "anonymous"));
        return s;
      });
    });
  }

  function loadHistory() {
    return fetch(base + "/v1/widget/messages?after_seq=" + lastSeq, {
      headers: { Authorization: "Bearer " + session.token }, credentials: "omit"
    }).then(function (r) { return r.ok ? r.json() : null; }).then(function (h) {
      if (!h) { return; }
      h.messages.forEach(addServerMessage);
      setStatus(h.status, h.operator);
    });
  }

  function connect() {
    if (!session) { return; }
    var sock = new WebSocket(wsBase + "/v1/widget/ws?token=" + encodeURIComponent(session.token));
    ws = sock;
    sock.onopen = function () {
      retry = 0; hideNotice(t("offline"));
      sock.send(JSON.stringify({ type: "sync", after_seq: lastSeq }));
      outbox.forEach(function (o) { sock.send(JSON.stringify({ type: "message", text: o.text, client_id: o.client_id })); });
    };
    sock.onmessage = function (ev) {
      var d; try { d = JSON.parse(ev.data); } catch (e) { return; }
      onEvent(d);
    };
    sock.onclose = function (ev) {
      if (ws !== sock) { return; }
      ws = null;
      if (ev.code === 4401) { session = null; startSession().then(connect, scheduleReconnect); return; }
      if (ev.code === 4403) { return; }
      showNotice(t("offline"));
      scheduleReconnect();
    };
  }
  function scheduleReconnect() {
    var delay = Math.min(10000, 500 * Math.pow(2, retry++)) * (0.75 + Math.random() / 2);
    setTimeout(function () { if (!session) { startSession().then(connect, scheduleReconnect); } else { connect(); } }, delay);
  }

  function onEvent(d) {
    var slot;
    switch (d.type) {
      case "ready": setStatus(d.status, d.operator); break;
      case "sync": (d.messages || []).forEach(addServerMessage); setStatus(d.status, d.operator); break;
      case "ack":
        outbox = outbox.filter(function (o) { return o.client_id !== d.client_id; });
        if (!d.duplicate && convStatus !== "handoff") { setTyping(true); }
        break;
      case "delta":
        slot = turnSlot(d.turn_id);
        if (!slot.bot) { slot.bot = botNode("bot"); }
        slot.botText += d.text;
        fillBot(slot.bot, slot.botText, null, d.turn_id, false);
        break;
      case "reply":
        setTyping(false);
        slot = turnSlot(d.turn_id);
        if (d.silent || !d.text) { if (slot.bot && !slot.bot.getAttribute("data-id")) { logEl.removeChild(slot.bot); slot.bot = null; } break; }
        if (!slot.bot) { slot.bot = botNode("bot"); }
        fillBot(slot.bot, d.text, d.suggestions, d.turn_id, true);
        break;
      case "message": addServerMessage(d.message); break;
      case "status": setStatus(d.status, d.operator); break;
      case "typing": setTyping(d.on, d.author); break;
      case "error":
        setTyping(false);
        if (d.client_id) {
          outbox = outbox.filter(function (o) { return o.client_id !== d.client_id; });
          slot = byTurn[d.client_id]; if (slot && slot.user) { slot.user.classList.add("failed"); }
        }
        if (d.status === 429) { showNotice(t("rateLimited", { s: d.retry_after || 1 }), 5000); }
        break;
      default: break;
    }
  }

  function send(obj) {
    if (ws && ws.readyState === 1) { ws.send(JSON.stringify(obj)); return true; }
    return false;
  }
  function sendText(text, shown) {
    text = String(text || "").trim();
    if (!text) { return; }
    var id = newId();
    var slot = turnSlot(id);
    slot.user = userNode(shown || text); slot.user.classList.add("pending");
    outbox.push({ client_id: id, text: text });
    send({ type: "message", text: text, client_id: id });
  }
  function submit() {
    var text = input.value;
    if (!text.trim()) { return; }
    input.value = "";
    sendText(text);
  }

  function boot() {
    document.body.appendChild(host);
    setStatus("new", null);
    if (cfg.open) { openPanel(); }
    startSession().then(loadHistory).then(connect).catch(function () { showNotice(t("offline")); scheduleReconnect(); });
  }
  if (document.body) { boot(); } else { document.addEventListener("DOMContentLoaded", boot); }
})();
