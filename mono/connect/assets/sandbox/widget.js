// reauth's simulated Mono Connect widget (sandbox only). It runs in the
// iframe the stand-in connect.js creates and talks to the page with
// postMessage({type, data}) using Mono's real raw message types and data
// fields. A scenario from the server decides how the bank behaves; with
// autoplay a scripted customer clicks through at a visible pace.
(function () {
  "use strict";

  var q = new URLSearchParams(location.search);
  var reference = q.get("reference") || "";
  var reauthArg = q.get("reauth_token") || "";
  if (!reauthArg && q.get("data")) {
    try { reauthArg = JSON.parse(q.get("data")).account || ""; } catch (e) { reauthArg = ""; }
  }

  var $ = function (id) { return document.getElementById(id); };
  var session = null;   // {path, secret} from the page
  var plan = null;      // from the server
  var opened = false;   // the stand-in has shown us
  var started = false;
  var closed = false;
  var page = "LOADING";
  var bank = null;
  var authMethod = "internet_banking";
  var otpAttempts = 0;
  var successCode = "";

  function send(type, data) {
    if (closed) return;
    var d = {};
    if (data) for (var k in data) d[k] = data[k];
    d.timestamp = Date.now();
    if (reference) d.reference = reference;
    parent.postMessage({ type: type, data: d }, location.origin);
  }

  function show(name) {
    page = name;
    document.body.setAttribute("data-page", name);
    Array.prototype.forEach.call(document.querySelectorAll("[data-section]"), function (s) {
      s.hidden = s.getAttribute("data-section") !== name;
    });
  }

  function label(method) { return method === "mobile_banking" ? "mobile banking" : "internet banking"; }

  function setBankName(name) {
    Array.prototype.forEach.call(document.querySelectorAll(".bank-name"), function (el) { el.textContent = name; });
  }

  function showError(type, message) {
    send("mono.connect.error_occured", { errorType: type, errorMessage: message });
    $("error-message").textContent = message;
    show("ERROR");
  }

  // --- the customer's actions (clicked by a person or by autoplay) ---

  function chooseBank(b) {
    if (page !== "INSTITUTIONS") return;
    bank = b;
    setBankName(b.name);
    show("AUTH_METHOD");
  }

  function chooseAuth(method) {
    if (page !== "AUTH_METHOD") return;
    authMethod = method;
    send("mono.connect.institution_selected", { institution: { id: bank.id, name: bank.name }, authMethod: method });
    if (plan.scenario === "cannot_reauth") {
      showError("REAUTH_NOT_ALLOWED", "This account can not be re-authorised.");
      return;
    }
    $("login-method").textContent = label(method);
    show("LOGIN");
  }

  function switchAuth() {
    if (page !== "LOGIN") return;
    var prev = authMethod;
    authMethod = prev === "mobile_banking" ? "internet_banking" : "mobile_banking";
    $("login-method").textContent = label(authMethod);
    send("mono.connect.auth_method_switched", { prevAuthMethod: prev, authMethod: authMethod });
  }

  function login() {
    if (page !== "LOGIN") return;
    send("mono.connect.login_attempt", {});
    $("mfa-error").hidden = true;
    show("MFA");
  }

  function submitOTP() {
    if (page !== "MFA") return;
    otpAttempts++;
    send("mono.connect.mfa_submitted", { mfaType: "OTP" });
    if (plan.scenario === "bank_error") {
      showError("BANK_UNAVAILABLE", bank.name + " is not responding right now. Please try again later.");
      return;
    }
    if (plan.scenario === "wrong_otp_then_success" && otpAttempts === 1) {
      send("mono.connect.error_occured", { errorType: "INVALID_OTP", errorMessage: "The OTP entered is wrong" });
      $("mfa-error").textContent = "The OTP entered is wrong. Try again.";
      $("mfa-error").hidden = false;
      $("otp-input").value = "";
      return;
    }
    $("account-0-label").textContent = (plan.holder || "Your account") + " " + (plan.accountNumber || "");
    show("ACCOUNTS");
  }

  function selectAccounts() {
    if (page !== "ACCOUNTS") return;
    var n = $("account-0").checked ? 1 : 0;
    if (n === 0) return;
    send("mono.connect.account_selected", { selectedAccountsCount: n });
    show("WORKING");
    complete();
  }

  // askServer posts to the page server; a 503 (the page is moving between
  // the agent's servers) is retried a few times.
  function askServer(path, body, attempt) {
    attempt = attempt || 0;
    return fetch(session.path + path, {
      method: "POST",
      headers: { "Content-Type": "application/json", "X-Reauth-Secret": session.secret },
      body: body,
      cache: "no-store",
    }).then(function (r) {
      if (r.status !== 503 || attempt >= 5) return r;
      return new Promise(function (ok) { setTimeout(ok, 200 * Math.pow(2, attempt)); })
        .then(function () { return askServer(path, body, attempt + 1); });
    });
  }

  function complete() {
    askServer("/sandbox/complete", "{}").then(function (r) {
      if (!r.ok) throw new Error("status " + r.status);
      return r.json();
    }).then(function (res) {
      if (page !== "WORKING") return;
      if (res.ok) {
        successCode = res.code;
        send("mono.connect.account_linked", { institution: { id: bank.id, name: bank.name } });
        show("SUCCESS");
      } else {
        showError(res.errorType || "REAUTH_FAILED", res.errorMessage || "Re-authorisation failed.");
      }
    }).catch(function () {
      if (page === "WORKING") showError("INTERNAL_ERROR", "We could not reach the bank. Please try again.");
    });
  }

  function finishSuccess() {
    if (page !== "SUCCESS") return;
    send("mono.connect.widget.account_linked", { code: successCode });
    closed = true;
    show("CLOSED");
  }

  function closeWidget() {
    if (closed) return;
    if (page === "SUCCESS") { finishSuccess(); return; }
    if (page !== "ERROR") send("mono.connect.on_exit", { pageName: page });
    send("mono.connect.widget.closed", {});
    closed = true;
    show("CLOSED");
  }

  // --- wiring ---

  function renderBanks() {
    var list = $("banks");
    list.textContent = "";
    plan.banks.forEach(function (b) {
      var btn = document.createElement("button");
      btn.type = "button";
      btn.className = "bank";
      btn.setAttribute("data-bank-id", b.id);
      btn.textContent = b.name;
      btn.addEventListener("click", function () { chooseBank(b); });
      list.appendChild(btn);
    });
  }

  $("widget-close").addEventListener("click", closeWidget);
  $("auth-internet_banking").addEventListener("click", function () { chooseAuth("internet_banking"); });
  $("auth-mobile_banking").addEventListener("click", function () { chooseAuth("mobile_banking"); });
  $("switch-auth").addEventListener("click", switchAuth);
  $("login-submit").addEventListener("click", login);
  $("otp-submit").addEventListener("click", submitOTP);
  $("accounts-submit").addEventListener("click", selectAccounts);
  $("success-continue").addEventListener("click", finishSuccess);
  $("error-close").addEventListener("click", closeWidget);

  function maybeStart() {
    if (started || !opened || !plan) return;
    started = true;
    if (plan.invalid) {
      showError(plan.invalid.errorType, plan.invalid.errorMessage);
      return;
    }
    renderBanks();
    show("INSTITUTIONS");
    if (plan.autoplay) autoplay();
  }

  // The scripted customer. Every step waits, then acts through the same
  // handlers a click would use, only if the widget is where it expects.
  function autoplay() {
    var d = Math.max(plan.stepDelayMs || 700, 10);
    var steps = [
      function () { chooseBank(plan.banks[0]); },
      function () { chooseAuth(plan.authMethod); },
    ];
    if (plan.scenario === "token_expires") {
      steps.push(function () { $("login-username").value = "customer"; });
      // ...and the customer dawdles until the token is long gone.
    } else if (plan.scenario === "cannot_reauth") {
      steps.push(closeWidget);
    } else {
      steps.push(function () { $("login-username").value = "customer"; $("login-password").value = "••••••••"; });
      steps.push(login);
      if (plan.scenario === "bank_error") {
        steps.push(function () { $("otp-input").value = "246810"; });
        steps.push(submitOTP);
        steps.push(closeWidget);
      } else if (plan.scenario === "closes_on_mfa") {
        steps.push(closeWidget);
      } else {
        if (plan.scenario === "wrong_otp_then_success") {
          steps.push(function () { $("otp-input").value = "123456"; });
          steps.push(submitOTP);
        }
        steps.push(function () { $("otp-input").value = "246810"; });
        steps.push(submitOTP);
        steps.push(selectAccounts);
        steps.push(function waitForSuccess() {
          if (page === "WORKING") { steps.splice(0, 0, waitForSuccess); return; }
        });
        steps.push(finishSuccess);
      }
    }
    (function next() {
      if (closed || !steps.length) return;
      setTimeout(function () {
        if (closed) return;
        var step = steps.shift();
        step();
        next();
      }, d);
    })();
  }

  window.addEventListener("message", function (e) {
    if (e.origin !== location.origin || e.source !== parent || !e.data) return;
    if (e.data.type === "reauth.sandbox.opened") {
      opened = true;
      maybeStart();
    } else if (e.data.type === "reauth.sandbox.session" && !session) {
      session = { path: String(e.data.path), secret: String(e.data.secret) };
      askServer("/sandbox/plan", JSON.stringify({ reauth: reauthArg })).then(function (r) {
        if (!r.ok) throw new Error("status " + r.status);
        return r.json();
      }).then(function (p) {
        plan = p;
        maybeStart();
      }).catch(function () {
        plan = { invalid: { errorType: "INTERNAL_ERROR", errorMessage: "The sandbox could not start this session." } };
        maybeStart();
      });
    }
  });

  // Ask the page for the session (it answers only its own widget frame).
  var hellos = 0;
  (function hello() {
    if (session || hellos++ > 40) return;
    parent.postMessage({ type: "reauth.sandbox.hello" }, location.origin);
    setTimeout(hello, 250);
  })();
})();
