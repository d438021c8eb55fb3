// The page that hosts Mono's Connect widget for one reauth session and
// relays its callbacks to the reauth server. Plain script, no build step.
// See mono/connect/README.md for the contract with the server.
(function () {
  "use strict";

  // 1. Take the secret out of the address bar before anything else runs.
  // connect.js sends window.location.href to Mono as `referrer`, and the
  // secret must never leave this page except in our own event posts.
  var secret = "";
  if (location.hash.length > 1) {
    try {
      secret = decodeURIComponent(location.hash.slice(1));
    } catch (e) {
      secret = "";
    }
  }
  var sessionPath = location.pathname.replace(/\/+$/, "");
  history.replaceState(null, "", sessionPath);

  var eventsURL = sessionPath + "/events";
  var $ = function (id) { return document.getElementById(id); };
  var app = $("app");

  var nextSeq = 1;
  var queue = [];
  var sending = false;
  var stopped = false; // the server no longer takes our posts
  var unloadSent = false;
  var succeeded = false;
  var finished = false;
  var lastError = "";
  var heartbeat = null;

  function setState(state) { app.setAttribute("data-state", state); }
  function setStatus(text) { $("status").textContent = text; }

  function finish(kind, title, text) {
    finished = true;
    setState(kind);
    var box = $("final");
    box.className = "final " + (kind === "succeeded" ? "succeeded" : "failed");
    $("final-title").textContent = title;
    $("final-text").textContent = text;
    box.hidden = false;
  }

  function delay(ms) { return new Promise(function (r) { setTimeout(r, ms); }); }

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
    var ev = { seq: nextSeq++, callback: callback, data: data || { timestamp: Date.now() } };
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
        stopped = true;
        queue.length = 0;
        break;
      }
      queue.shift();
    }
    sending = false;
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
        if (r.status === 401 || r.status === 403 || r.status === 404 || r.status === 410) {
          inactive(r.status);
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

  function inactive(status) {
    if (heartbeat) clearInterval(heartbeat);
    if (finished) return;
    var why = status === 410
      ? "This link has been replaced or closed by your support agent."
      : "This page can no longer reach the support agent's app.";
    finish("inactive", "This link is no longer active", why + " Ask your agent for a new link.");
  }

  function pageError(type, message) {
    post("page_error", "", { timestamp: Date.now(), errorType: type, errorMessage: String(message).slice(0, 1000) });
    finish("error", "The secure bank window could not start", String(message));
  }

  window.addEventListener("pagehide", function () {
    if (stopped || unloadSent || !secret) return;
    unloadSent = true;
    if (heartbeat) clearInterval(heartbeat);
    // Hand what is still queued to sendBeacon, then the unload itself. A
    // post already in flight may arrive twice: the server dedupes by seq.
    var pending = queue.slice();
    queue.length = 0;
    pending.push({ seq: nextSeq++, callback: "unload", data: { timestamp: Date.now() } });
    pending.forEach(function (ev) {
      ev.secret = secret; // beacons cannot carry our header
      try {
        navigator.sendBeacon(eventsURL, new Blob([JSON.stringify(ev)], { type: "text/plain;charset=UTF-8" }));
      } catch (e) {
        // nothing more can be done while the page goes away
      }
    });
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

  function startWidget(cfg) {
    var c = cfg.connect;
    try {
      if (typeof window.Connect !== "function") {
        throw new Error("The Connect script did not define window.Connect");
      }
      var opts = {
        key: c.key,
        reference: c.reference,
        onLoad: function () { post("load", "", { timestamp: Date.now() }); },
        onEvent: function (name, data) {
          var d = pick(data);
          if (name === "ERROR") lastError = d.errorMessage || d.errorType || "";
          post("event", name, d);
          if (!finished) setStatus(describe(name, d));
        },
        onSuccess: function (data) {
          succeeded = true;
          post("success", "", pick(data));
          finish("succeeded", "Your account is re-authorised", "Thank you. You can close this page now.");
          setStatus("Done.");
        },
        onClose: function () {
          post("close", "", { timestamp: Date.now() });
          if (!succeeded && !finished) {
            finish("failed", "The bank window was closed",
              (lastError ? "Last problem: " + lastError + ". " : "") +
              "Re-authorisation did not finish. Your support agent can send a new link.");
          }
        },
      };
      if (c.scope) opts.scope = c.scope;
      var connect = new window.Connect(opts);
      connect.reauthorise(c.reauth);
      connect.open();
      setState("open");
      setStatus("Opening the secure bank window…");
    } catch (e) {
      pageError("SDK_ERROR", (e && e.message) || String(e));
    }
  }

  function loadScript(cfg) {
    var s = document.createElement("script");
    s.src = cfg.connect.scriptURL;
    s.async = true;
    s.onload = function () { startWidget(cfg); };
    s.onerror = function () {
      var host = cfg.connect.scriptURL;
      try { host = new URL(cfg.connect.scriptURL).host; } catch (e) { /* keep the URL */ }
      pageError("SCRIPT_LOAD_FAILED", "The bank window's script could not be loaded from " + host + ".");
    };
    document.head.appendChild(s);
  }

  // The sandbox widget is served from our own origin and needs the session
  // secret to ask the server to complete the reauth; it asks for it here.
  function answerSandboxFrame() {
    window.addEventListener("message", function (e) {
      if (e.origin !== location.origin || !e.data || e.data.type !== "reauth.sandbox.hello") return;
      var frame = document.getElementById("mono-connect--frame-id");
      if (!frame || e.source !== frame.contentWindow) return;
      e.source.postMessage({ type: "reauth.sandbox.session", path: sessionPath, secret: secret }, location.origin);
    });
  }

  async function main() {
    if (!secret) {
      finish("inactive", "Open the link again",
        "This page was reloaded or opened without its key. Open the link your support agent gave you again.");
      return;
    }
    var r;
    try {
      r = await fetch(sessionPath + "/config", {
        headers: { "X-Reauth-Secret": secret },
        cache: "no-store",
        credentials: "same-origin",
      });
    } catch (e) {
      finish("inactive", "Cannot reach the support agent's app", "Check your connection and open the link again.");
      return;
    }
    if (r.status === 409) {
      finish("inactive", "Already open", "This link is already open in another tab or window. Use that one.");
      return;
    }
    if (!r.ok) {
      stopped = true;
      inactive(r.status);
      return;
    }
    var cfg = await r.json();
    nextSeq = cfg.seqStart || 1;
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
    loadScript(cfg);
  }

  main();
})();
