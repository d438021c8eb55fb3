// reauth's sandbox stand-in for Mono's connect.js (@mono.co/connect.js 2.x).
// Same constructor checks, methods, iframe ids and callback order as the
// real script; the iframe shows reauth's simulated widget, served by the
// reauth server, which posts the real mono.connect.* message types.
(function () {
  "use strict";
  // Filled in by the server: {"openDelayMs":N}.
  var CONFIG = /*STANDIN_CONFIG*/{};
  var openDelay = typeof CONFIG.openDelayMs === "number" ? CONFIG.openDelayMs : 2000;

  var script = document.currentScript;
  var widgetURL = new URL("widget", script ? script.src : location.origin + "/sandbox/connect.js").href;

  // What this script would hand to Mono about the page. Tests read it to
  // prove the page's secret had left the address bar before we ran.
  var record = { hrefAtLoad: window.location.href, referrers: [] };

  var noop = function () {};
  var isRequired = function (name) { throw new Error(name + " is required"); };
  var ownKeys = ["key", "onClose", "onSuccess", "onLoad", "onEvent"];

  var frame = null;
  var container = null;
  var listener = null;
  var frameLoaded = false;
  var afterLoad = [];

  function Connect(opts) {
    opts = opts || {};
    if (!(this instanceof Connect)) return new Connect(opts);
    this.key = opts.key || isRequired("PUBLIC_KEY");
    this.config = {};
    for (var k in opts) {
      if (Object.prototype.hasOwnProperty.call(opts, k) && ownKeys.indexOf(k) < 0) this.config[k] = opts[k];
    }
    this.onLoad = opts.onLoad || noop;
    this.onClose = opts.onClose || noop;
    this.onEvent = opts.onEvent || noop;
    this.onSuccess = opts.onSuccess || isRequired("onSuccess callback");
  }

  function assign(a, b) {
    var out = {};
    [a, b].forEach(function (o) { for (var k in o) if (Object.prototype.hasOwnProperty.call(o, k)) out[k] = o[k]; });
    return out;
  }

  Connect.prototype.setup = function (setupConfig) {
    this._init(assign(this.config, setupConfig || {}));
  };

  // The server serves one of these two, so the script throws only its own
  // contract's error, as each real release does.
  /*CONTRACT:token*/
  // connect.js <= 2.0.x: reauthorise(token).
  Connect.prototype.reauthorise = function (reauthToken) {
    if (!reauthToken) throw new Error("Re-auth token is required for reauthorisation");
    this._init(assign(this.config, { reauth_token: reauthToken }));
  };
  /*END:token*/
  /*CONTRACT:account*/
  // connect.js >= 2.1: reauthorise(accountId), into data.account.
  Connect.prototype.reauthorise = function (accountId) {
    if (!accountId) throw new Error("Account ID is required for re-authorisation");
    if (typeof accountId !== "string") throw new Error("Invalid accountId: must be a string");
    this._init(assign(this.config, { data: assign(this.config.data || {}, { account: accountId }) }));
  };
  /*END:account*/

  Connect.prototype._init = function (qs) {
    var self = this;
    if (container) container.remove();
    var src = new URL(widgetURL);
    src.searchParams.set("key", this.key);
    src.searchParams.set("referrer", window.location.href);
    record.referrers.push(window.location.href);
    src.searchParams.set("version", "2023-12-14");
    Object.keys(qs).forEach(function (k) {
      var v = qs[k];
      src.searchParams.set(k, k === "data" || k === "selectedInstitution" ? JSON.stringify(v) : v);
    });

    container = document.createElement("div");
    container.id = "mono-connect--widget-div";
    var cs = container.style;
    cs.position = "fixed";
    cs.inset = "0";
    cs.zIndex = "999999999";
    cs.display = "none";
    cs.justifyContent = "center";
    cs.alignItems = "center";
    cs.background = "rgba(0, 0, 0, 0.6)";
    cs.visibility = "hidden";

    frame = document.createElement("iframe");
    frame.id = "mono-connect--frame-id";
    frame.title = "Mono connect";
    frame.src = src.href;
    frame.setAttribute("sandbox", "allow-forms allow-scripts allow-same-origin allow-top-navigation-by-user-activation allow-popups");
    var fs = frame.style;
    fs.border = "0";
    fs.width = "100%";
    fs.height = "100%";
    fs.visibility = "hidden";
    frameLoaded = false;
    afterLoad = [];
    frame.onload = function () {
      self.onLoad();
      self.onEvent("LOADED", { timestamp: Date.now() });
      frameLoaded = true;
      afterLoad.splice(0).forEach(function (f) { f(); });
    };
    container.appendChild(frame);
    document.body.insertBefore(container, document.body.firstChild);
  };

  Connect.prototype.open = function () {
    var self = this;
    if (!container) return;
    container.style.display = "flex";
    container.style.visibility = "visible";
    setTimeout(function () {
      // connect.js makes OPENED on a timer alone; with the short delays
      // used in tests that could precede LOADED, which a real widget
      // never shows, so the stand-in also waits for the frame.
      if (frameLoaded) show(); else afterLoad.push(show);
    }, openDelay);
    function show() {
      if (!frame) return;
      frame.style.visibility = "visible";
      handle.call(self, { type: "mono.connect.widget_opened", data: { timestamp: Date.now() } });
      // Only the stand-in does this: it lets the simulated customer start
      // once the widget is on screen, as a person would.
      if (frame.contentWindow) frame.contentWindow.postMessage({ type: "reauth.sandbox.opened" }, location.origin);
    }
    if (listener) window.removeEventListener("message", listener, false);
    listener = function (e) {
      // Stricter than connect.js, which takes any window's messages.
      if (!frame || e.source !== frame.contentWindow || !e.data) return;
      handle.call(self, e.data);
    };
    window.addEventListener("message", listener, false);
  };

  // The same raw type -> callback mapping as connect.js 2.x.
  function handle(msg) {
    var data = msg.data;
    switch (msg.type) {
      case "mono.connect.widget.charge_complete":
      case "mono.connect.widget.account_linked":
        this.onSuccess(assign(data, {}));
        this.onEvent("SUCCESS", data);
        this.close();
        break;
      case "mono.connect.widget.closed":
        this.close();
        break;
      case "mono.connect.widget_opened": this.onEvent("OPENED", data); break;
      case "mono.connect.error_occured": this.onEvent("ERROR", data); break;
      case "mono.connect.institution_selected": this.onEvent("INSTITUTION_SELECTED", data); break;
      case "mono.connect.auth_method_switched": this.onEvent("AUTH_METHOD_SWITCHED", data); break;
      case "mono.connect.on_exit": this.onEvent("EXIT", data); break;
      case "mono.connect.login_attempt": this.onEvent("SUBMIT_CREDENTIALS", data); break;
      case "mono.connect.mfa_submitted": this.onEvent("SUBMIT_MFA", data); break;
      case "mono.connect.account_linked": this.onEvent("ACCOUNT_LINKED", data); break;
      case "mono.connect.account_selected": this.onEvent("ACCOUNT_SELECTED", data); break;
    }
  }

  Connect.prototype.close = function () {
    if (listener) window.removeEventListener("message", listener, false);
    listener = null;
    if (container) {
      container.style.display = "none";
      container.style.visibility = "hidden";
    }
    if (frame) frame.style.visibility = "hidden";
    this.onClose();
  };

  Connect.sandbox = record;
  window.Connect = Connect;
})();
