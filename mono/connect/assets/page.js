// The page that hosts Mono's Connect widget for one reauth session and
// relays its callbacks to the reauth server. Plain script, no build step.
// See mono/connect/README.md for the contract with the server.
(function () {
  "use strict";

  // 1. Take the secret out of the address bar before anything else runs.
  // connect.js sends window.location.href to Mono as `referrer`, and the
  // secret must never leave this page except in our own requests. This tab
  // keeps it in sessionStorage, so a reload (no fragment any more) still
  // works; a link opened again in a new tab brings its own fragment.
  var sessionPath = location.pathname.replace(/\/+$/, "");
  var sessionId = sessionPath.slice(sessionPath.lastIndexOf("/") + 1);
  var secretKey = "reauth.secret:" + sessionId;
  var doneKey = "reauth.done:" + sessionId;
  var secret = "";
  if (location.hash.length > 1) {
    try {
      secret = decodeURIComponent(location.hash.slice(1));
    } catch (e) {
      secret = "";
    }
  }
  history.replaceState(null, "", sessionPath);
  function stored(key) {
    try { return sessionStorage.getItem(key) || ""; } catch (e) { return ""; }
  }
  function store(key, value) {
    try {
      if (value) sessionStorage.setItem(key, value); else sessionStorage.removeItem(key);
    } catch (e) {
      // storage disabled: a reload will ask for the link again
    }
  }
  if (secret) store(secretKey, secret); else secret = stored(secretKey);

  var eventsURL = sessionPath + "/events";
  var $ = function (id) { return document.getElementById(id); };
  var app = $("app");

  var cfg = null;
  var pageId = "";     // this page instance, from the config
  var deadline = 0;    // when the link expires, by this page's clock (0: never)
  var nextSeq = 1;
  var queue = [];
  var sending = false;
  var stopped = false; // the server no longer takes our posts
  var unloadSent = false;
  var succeeded = false;
  var lastError = "";
  var heartbeat = null;

  function setState(state) { app.setAttribute("data-state", state); }
  function state() { return app.getAttribute("data-state"); }
  function setStatus(text) { $("status").textContent = text; }
  // A notice is showing: status updates from the widget must not replace it.
  function noticeShown() { return !$("final").hidden; }

  // notice shows a message on top of everything but the pairing bar (the
  // widget included) and sets the page's state.
  function notice(st, tone, title, text, reopen) {
    setState(st);
    var box = $("final");
    box.className = "notice " + tone;
    $("final-title").textContent = title;
    $("final-text").textContent = text;
    $("reopen").hidden = !reopen;
    box.hidden = false;
    if (reopen) $("reopen").focus();
  }

  function hideNotice() { $("final").hidden = true; }

  // removeWidget takes connect.js's container (and its iframe) out of the
  // page: used when this page may no longer drive the reauth.
  function removeWidget() {
    var w = $("mono-connect--widget-div");
    if (w) w.remove();
  }

  function stop() {
    stopped = true;
    queue.length = 0;
    if (heartbeat) clearInterval(heartbeat);
    heartbeat = null;
  }

  function delay(ms) { return new Promise(function (r) { setTimeout(r, ms); }); }

  function linkExpired() { return deadline > 0 && Date.now() >= deadline; }

  // Keep only the documented data fields, with the documented types, so a
  // quirk in what the widget sends never gets a whole event refused.
  function str(v) {
    if (v === undefined || v === null) return undefined;
    return String(v).slice(0, 1000);
  }
  function pick(d) {
    var out = {};
    if (!d || typeof d !== "object") d = {};
    var ts = Number(d.timestamp);
    out.timestamp = isFinite(ts) && ts > 0 ? Math.floor(ts) : Date.now();
    ["reference", "authMethod", "prevAuthMethod", "mfaType", "errorType", "errorMessage", "pageName", "code"].forEach(function (k) {
      var v = str(d[k]);
      if (v !== undefined) out[k] = v;
    });
    if (d.institution && typeof d.institution === "object") {
      out.institution = {};
      if (d.institution.id !== undefined) out.institution.id = str(d.institution.id);
      if (d.institution.name !== undefined) out.institution.name = str(d.institution.name);
    } else if (typeof d.institution === "string") {
      out.institution = { name: str(d.institution) };
    }
    if (d.selectedAccountsCount !== undefined) {
      var n = Number(d.selectedAccountsCount);
      if (isFinite(n) && n >= 0 && n <= 1000) out.selectedAccountsCount = Math.floor(n);
    }
    return out;
  }

  function post(callback, name, data) {
    if (stopped || unloadSent) return;
    var ev = { seq: nextSeq++, callback: callback, page: pageId, data: data || { timestamp: Date.now() } };
    if (name) ev.name = String(name).replace(/[^A-Za-z0-9_.:-]/g, "_").slice(0, 64) || "UNKNOWN";
    queue.push(ev);
    pump();
  }

  // Posts go one at a time so they reach the server in seq order; a post
  // whose reply is lost is retried and the server drops the duplicate.
  async function pump() {
    if (sending) return;
    sending = true;
    while (queue.length && !stopped) {
      var outcome = await send(queue[0]);
      if (outcome === "stop") {
        stop();
        break;
      }
      queue.shift();
    }
    sending = false;
  }

  async function reply(r) {
    try { return await r.json(); } catch (e) { return {}; }
  }

  async function send(ev) {
    for (var attempt = 0; attempt < 6; attempt++) {
      if (unloadSent) return "ok"; // the beacon took over
      try {
        var r = await fetch(eventsURL, {
          method: "POST",
          headers: { "Content-Type": "application/json", "X-Reauth-Secret": secret },
          body: JSON.stringify(ev),
          cache: "no-store",
          credentials: "same-origin",
        });
        if (r.ok) return "ok";
        if (r.status === 409) {
          var m = await reply(r);
          if (m.error === "moved") {
            moved(m.message);
            return "stop";
          }
          return "skip";
        }
        if (r.status === 410) {
          ended((await reply(r)).reason);
          return "stop";
        }
        if (r.status === 401 || r.status === 403 || r.status === 404) {
          inactive();
          return "stop";
        }
        if (r.status !== 429 && r.status < 500) return "skip"; // our own bug; do not loop
      } catch (e) {
        // network error: retry below
      }
      await delay(250 * Math.pow(2, attempt));
    }
    return "skip";
  }

  // moved: a newer page (a reload elsewhere, the link opened again, another
  // device) took the session over. This page stops and says so.
  function moved(message) {
    stop();
    removeWidget();
    notice("moved", "info", "Continued elsewhere",
      message || "This reauth continued in another tab or on another device.", false);
  }

  // What the customer is told when the session has ended, by cause.
  var endings = {
    expired: ["expired", "failed", "Link expired", "This link has expired; ask your support agent for a new one."],
    ended_by_agent: ["inactive", "failed", "Session ended",
      "Your support agent ended this session. If you still need to re-authorise, ask them for a new link."],
    replaced: ["inactive", "failed", "Link replaced",
      "A newer link replaced this one: use the latest link your support agent sent you."],
    succeeded: ["succeeded", "succeeded", "Your account is re-authorised", "Thank you. You can close this page now."],
    server_closed: ["inactive", "failed", "Link no longer active",
      "Your support agent's app has stopped. Ask your agent for a new link."],
  };

  function ended(reason) {
    stop();
    removeWidget();
    store(secretKey, "");
    app.setAttribute("data-reason", reason || "");
    if (succeeded) return; // this page saw the success: that stays the last word
    var e = endings[reason] || ["inactive", "failed", "This link is no longer active", "Ask your support agent for a new link."];
    notice(e[0], e[1], e[2], e[3], false);
  }

  function inactive() {
    stop();
    removeWidget();
    notice("inactive", "failed", "This link is no longer active",
      "This page can no longer reach the support agent's app. Ask your agent for a new link.", false);
  }

  function expiredNotice() {
    var e = endings.expired;
    notice(e[0], e[1], e[2], e[3], false);
  }

  // closedNotice: the widget closed without success. While the link lives,
  // the customer may open it again; the attempt goes on.
  function closedNotice() {
    if (linkExpired()) {
      expiredNotice();
      return;
    }
    notice("closed", "failed", "You closed the window",
      (lastError ? "Last problem: " + lastError + ". " : "") +
      "Re-authorisation did not finish. Press Reopen to open the secure bank window again.", true);
  }

  function pageError(type, message) {
    post("page_error", "", { timestamp: Date.now(), errorType: type, errorMessage: String(message).slice(0, 1000) });
    notice("error", "failed", "The secure bank window could not start", String(message), false);
  }

  window.addEventListener("pagehide", function () {
    if (stopped || unloadSent || !secret || !pageId) return;
    unloadSent = true;
    if (heartbeat) clearInterval(heartbeat);
    // Hand what is still queued to sendBeacon, then the unload itself. A
    // post already in flight may arrive twice: the server dedupes by seq.
    var pending = queue.slice();
    queue.length = 0;
    pending.push({ seq: nextSeq++, callback: "unload", page: pageId, data: { timestamp: Date.now() } });
    pending.forEach(function (ev) {
      ev.secret = secret; // beacons cannot carry our header
      try {
        navigator.sendBeacon(eventsURL, new Blob([JSON.stringify(ev)], { type: "text/plain;charset=UTF-8" }));
      } catch (e) {
        // nothing more can be done while the page goes away
      }
    });
  });
  // A page restored from the back/forward cache has told the server it
  // left: loading it again makes it a new page, which takes the session back.
  window.addEventListener("pageshow", function (e) {
    if (e.persisted && unloadSent) location.reload();
  });

  var statusText = {
    LOADED: "Secure bank window loaded.",
    OPENED: "Bank window open: follow the steps there.",
    SUBMIT_CREDENTIALS: "Signing in to your bank…",
    SUBMIT_MFA: "Checking your code…",
    ACCOUNT_SELECTED: "Account selected.",
    ACCOUNT_LINKED: "Account re-authorised. Finishing…",
    SUCCESS: "Done.",
  };

  function describe(name, d) {
    switch (name) {
      case "INSTITUTION_SELECTED":
        return "Bank chosen: " + ((d.institution && d.institution.name) || "your bank") + ".";
      case "AUTH_METHOD_SWITCHED":
        return "Sign-in method changed.";
      case "ERROR":
        return "Problem: " + (d.errorMessage || d.errorType || "unknown error");
      case "EXIT":
        return "Leaving the bank window…";
    }
    return statusText[name] || "Working…";
  }

  // The errors connect.js documents for reauthorise() with no argument: the
  // only sign, in every release, of what it takes (the Go side's
  // DetectContract reads the same strings from the script's source).
  var contractErrors = {
    token: ["Re-auth token is required for reauthorisation"],
    account: ["Account ID is required for re-authorisation", "Invalid accountId: must be a string"],
  };
  var contractTakes = { token: "the reauth token", account: "the account id" };

  function contractOf(message) {
    message = String(message || "");
    for (var c in contractErrors) {
      for (var i = 0; i < contractErrors[c].length; i++) {
        if (message.indexOf(contractErrors[c][i]) >= 0) return c;
      }
    }
    return "";
  }

  // probeContract calls reauthorise() with no argument on the instance about
  // to be used, before the real call: every release checks its argument
  // before it builds anything, so it throws its own contract's error and
  // nothing else happens. (A throwaway instance would not do: connect.js's
  // constructor sets the callbacks on its shared prototype, so a second
  // instance would take over the first one's onSuccess.) "" when the error
  // is not a documented one; "none" when there is no reauthorise at all.
  function probeContract(connect) {
    if (typeof connect.reauthorise !== "function") return "none";
    try {
      connect.reauthorise();
    } catch (e) {
      return contractOf(e && e.message);
    }
    removeWidget(); // an unknown script built something for "undefined"
    return "";
  }

  function scriptHost() {
    try { return new URL(cfg.connect.scriptURL).host; } catch (e) { return cfg.connect.scriptURL; }
  }

  // contractMismatch: the server set this page up for one contract and the
  // script takes the other. Nothing is passed to it: a token must never go
  // out as an account id, nor an account id as a token.
  function contractMismatch(want, got) {
    var detail = "CONTRACT_MISMATCH: this page was set up for the " + want + " contract (reauthorise(" +
      (want === "token" ? "token" : "accountId") + ")) but the Connect script from " + scriptHost() +
      " takes the " + got + " contract (" + contractTakes[got] + "); nothing was passed to it.";
    post("page_error", "", { timestamp: Date.now(), errorType: "CONTRACT_MISMATCH", errorMessage: detail });
    removeWidget();
    notice("error", "failed", "The secure bank window could not start",
      "This link was prepared for a different version of the bank window. Ask your support agent for a new link. (" +
      detail + ")", false);
  }

  var sawEvent = false; // the script calls onEvent (connect.js 0.2.1 and later)

  // startWidget opens the widget: the first time, and again on Reopen (a
  // new Connect with the same config; connect.js replaces its old iframe).
  function startWidget() {
    var c = cfg.connect;
    try {
      if (typeof window.Connect !== "function") {
        throw new Error("The Connect script did not define window.Connect");
      }
      var opts = {
        key: c.key,
        reference: c.reference,
        onLoad: function () {
          post("load", "", { timestamp: Date.now() });
          // connect.js 0.2.1+ calls onEvent("LOADED") right after onLoad;
          // 0.1.x has no onEvent, so its widget's progress never shows.
          setTimeout(function () {
            if (!sawEvent && !noticeShown()) {
              setStatus("Bank window loaded. This version of Mono's window reports only when it finishes or is closed.");
            }
          }, 0);
        },
        onEvent: function (name, data) {
          sawEvent = true;
          var d = pick(data);
          if (name === "ERROR") lastError = d.errorMessage || d.errorType || "";
          post("event", name, d);
          if (!noticeShown()) setStatus(describe(name, d));
        },
        onSuccess: function (data) {
          succeeded = true;
          store(doneKey, "1");
          post("success", "", pick(data));
          notice("succeeded", "succeeded", "Your account is re-authorised", "Thank you. You can close this page now.", false);
          setStatus("Done.");
        },
        onClose: function () {
          post("close", "", { timestamp: Date.now() });
          if (succeeded || stopped || state() !== "open") return;
          closedNotice();
          setStatus("The secure bank window was closed.");
        },
      };
      if (c.scope) opts.scope = c.scope;
      var connect = new window.Connect(opts);
      var takes = probeContract(connect);
      if (takes === "none") {
        pageError("NO_REAUTHORISE", "The Connect script from " + scriptHost() +
          " has no reauthorise(), so it cannot re-authorise an account (connect.js before 0.1.2 has none).");
        return;
      }
      if (takes && takes !== c.contract) {
        contractMismatch(c.contract, takes);
        return;
      }
      connect.reauthorise(c.reauth);
      connect.open();
      setState("open");
      setStatus("Opening the secure bank window…");
    } catch (e) {
      pageError("SDK_ERROR", (e && e.message) || String(e));
    }
  }

  $("reopen").addEventListener("click", function () {
    if (stopped || succeeded) return;
    if (linkExpired()) {
      expiredNotice();
      return;
    }
    hideNotice();
    lastError = "";
    // connect.js 0.1.2 keeps (and would show again) a frame already in the
    // page; every later release replaces it. Start from a clean page.
    removeWidget();
    startWidget();
  });

  function loadScript() {
    var s = document.createElement("script");
    s.src = cfg.connect.scriptURL;
    s.async = true;
    s.onload = startWidget;
    s.onerror = function () {
      pageError("SCRIPT_LOAD_FAILED", "The bank window's script could not be loaded from " + scriptHost() + ".");
    };
    document.head.appendChild(s);
  }

  // The sandbox widget is served from our own origin and needs the session
  // secret to ask the server to complete the reauth; it asks for it here.
  function answerSandboxFrame() {
    window.addEventListener("message", function (e) {
      if (e.origin !== location.origin || !e.data || e.data.type !== "reauth.sandbox.hello") return;
      var frame = document.getElementById("mono-connect--frame-id");
      if (!frame || e.source !== frame.contentWindow || stopped) return;
      e.source.postMessage({ type: "reauth.sandbox.session", path: sessionPath, secret: secret }, location.origin);
    });
  }

  // fetchConfig asks for this page's config; a 429 (a page reloaded very
  // often) or a 503 (the page is moving between the agent's servers) is
  // retried a few times.
  async function fetchConfig() {
    for (var attempt = 0; ; attempt++) {
      var r = await fetch(sessionPath + "/config", {
        headers: { "X-Reauth-Secret": secret },
        cache: "no-store",
        credentials: "same-origin",
      });
      if ((r.status !== 429 && r.status !== 503) || attempt >= 4) return r;
      await delay(500 * Math.pow(2, attempt));
    }
  }

  async function main() {
    if (stored(doneKey)) {
      notice("succeeded", "succeeded", "Your account is re-authorised", "Thank you. You can close this page now.", false);
      return;
    }
    var r;
    try {
      r = await fetchConfig();
    } catch (e) {
      notice("inactive", "failed", "Cannot reach the support agent's app", "Check your connection and open the link again.", false);
      return;
    }
    if (r.status === 410) {
      ended((await reply(r)).reason);
      return;
    }
    if (r.status === 401 && !secret) {
      notice("inactive", "failed", "Open the link again",
        "This page was opened without its key. Open the link your support agent gave you again.", false);
      return;
    }
    if (r.status >= 500) {
      // Still 503 after the retries: the agent's servers could not say
      // whether this link is live (not that it ended). Reloading later may
      // well work.
      notice("unreachable", "failed", "Cannot reach the support agent's app just now",
        "Reload this page in a minute. If it still does not open, ask your support agent for a new link.", false);
      return;
    }
    if (!r.ok) {
      if (r.status === 401) store(secretKey, "");
      inactive();
      return;
    }
    cfg = await r.json();
    pageId = cfg.pageId || "";
    nextSeq = cfg.seqStart || 1;
    if (cfg.expiresInMs > 0) {
      deadline = Date.now() + cfg.expiresInMs;
      // A closed window's Reopen button goes when the link expires.
      setTimeout(function () { if (state() === "closed") expiredNotice(); }, cfg.expiresInMs);
    }
    $("pairing-code").textContent = cfg.pairingCode;
    $("account-holder").textContent = cfg.account.holder || "—";
    $("account-bank").textContent = cfg.account.bank || "—";
    $("account-number").textContent = cfg.account.number || "—";
    if (cfg.mode === "sandbox") {
      $("sandbox-banner").hidden = false;
      document.title = "[SANDBOX] " + document.title;
      answerSandboxFrame();
    }
    heartbeat = setInterval(function () {
      if (!queue.length) post("heartbeat", "", { timestamp: Date.now() });
    }, cfg.heartbeatMs || 5000);
    setStatus("Loading the secure bank window…");
    loadScript();
  }

  main();
})();
