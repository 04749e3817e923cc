// The account page, on authgate's cookie transport: the access and refresh tokens live in
// httpOnly cookies that this script cannot read, and nothing is kept in localStorage or
// sessionStorage. The one value it reads is the CSRF token (a cookie meant for it), which
// it copies into the X-CSRF-Token header; see web/csrf.py.
"use strict";

(() => {
  // __Host- when the cookies are Secure, plain on http://localhost; the prefixed one wins.
  const CSRF_COOKIES = ["__Host-authgate_csrf", "authgate_csrf"];
  const $ = (id) => document.getElementById(id);
  let refreshTimer;
  let refreshing = null; // the refresh under way, shared by every caller

  function csrfToken() {
    const jar = new Map();
    for (const pair of document.cookie.split(";")) {
      const at = pair.indexOf("=");
      if (at > 0) jar.set(pair.slice(0, at).trim(), pair.slice(at + 1).trim());
    }
    const name = CSRF_COOKIES.find((candidate) => jar.has(candidate));
    return name === undefined ? "" : jar.get(name);
  }

  function send(method, path, body) {
    const headers = { "X-CSRF-Token": csrfToken() };
    const init = { method, headers, credentials: "same-origin", cache: "no-store" };
    if (body !== undefined) {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    return fetch(path, init);
  }

  // A guarded call: on a 401 (the access token expired or was dropped), refresh once and retry.
  // Not when the route wants a recent sign-in (a refresh keeps the old one) or the 401 is
  // about a password (no challenge then): a retry would only fail, or count once more.
  async function api(method, path, body) {
    const response = await send(method, path, body);
    const challenge = response.headers.get("WWW-Authenticate");
    if (response.status !== 401 || challenge === null || needsSignIn(response)) return response;
    if (!(await refresh())) return response;
    return send(method, path, body);
  }

  // RFC 9470: the answer of a route that needs a sign-in newer than the session's.
  function needsSignIn(response) {
    const challenge = response.headers.get("WWW-Authenticate") ?? "";
    return response.status === 401 && challenge.includes("insufficient_user_authentication");
  }

  // Trade the refresh-token cookie for new cookies; true when the session goes on.
  function refresh() {
    if (refreshing === null) {
      refreshing = send("POST", "/token?transport=cookie")
        .then(async (response) => {
          if (!response.ok) return false;
          schedule((await response.json()).expires_in);
          return true;
        })
        .catch(() => false)
        .finally(() => {
          refreshing = null;
        });
    }
    return refreshing;
  }

  // Refresh silently a little before the access token expires.
  function schedule(expiresIn) {
    clearTimeout(refreshTimer);
    const lead = Math.min(60, expiresIn / 4);
    refreshTimer = setTimeout(async () => {
      if (!(await refresh())) showSignedOut("Your session has ended. Please sign in again.");
    }, Math.max(1, expiresIn - lead) * 1000);
  }

  function say(message) {
    $("status").textContent = message;
  }

  // The server's words ("the e-mail or password is incorrect") as a sentence.
  function sentence(text) {
    const said = text.trim();
    if (!said) return said;
    const capital = said[0].toUpperCase() + said.slice(1);
    return /[.!?]$/.test(capital) ? capital : `${capital}.`;
  }

  // A failed answer's error code and what to tell the user.
  async function failure(response) {
    try {
      const body = await response.json();
      return { error: body.error, detail: sentence(body.detail || body.error || "") };
    } catch {
      return { error: undefined, detail: `Something went wrong (HTTP ${response.status}).` };
    }
  }

  async function problem(response) {
    return (await failure(response)).detail || `HTTP ${response.status}`;
  }

  // What a 202 says happens next ("a link is on its way").
  async function accepted(response) {
    const body = await response.json().catch(() => ({}));
    return sentence(body.detail || "Done.");
  }

  // Disable a form's (or a lone) button while its request runs, against double submits.
  async function busy(control, work) {
    const buttons = control.tagName === "FORM" ? control.querySelectorAll("button") : [control];
    for (const button of buttons) button.disabled = true;
    try {
      await work();
    } catch (error) {
      say("Something went wrong (is the server reachable?). Try again.");
      throw error; // to the console, where a page error belongs
    } finally {
      for (const button of buttons) button.disabled = false;
    }
  }

  function when(instant) {
    return new Date(instant).toLocaleString();
  }

  function showSignedOut(message) {
    clearTimeout(refreshTimer);
    $("signed-in").hidden = true;
    $("signed-out").hidden = false;
    $("sessions").replaceChildren();
    for (const id of ["me-email", "me-id", "me-created", "me-verified"]) $(id).textContent = "";
    for (const form of ["password-form", "email-form"]) $(form).reset();
    $("delete-confirm").hidden = true;
    forgetSecondFactors();
    $("passkey-list").replaceChildren();
    $("passkey-form").reset();
    if (message) say(message);
  }

  async function loadAccount() {
    const response = await api("GET", "/me");
    if (!response.ok) {
      showSignedOut(response.status === 401 ? "" : await problem(response));
      return;
    }
    const user = await response.json();
    $("me-email").textContent = user.email;
    $("me-verified").textContent = user.email_verified
      ? "Yes"
      : "Not yet: open the link we mailed you";
    $("resend-verification").hidden = user.email_verified;
    $("me-id").textContent = user.id;
    $("me-created").textContent = when(user.created_at);
    stopAutofill();
    $("signed-out").hidden = true;
    $("signed-in").hidden = false;
    await loadSessions();
    await loadFactors();
    await loadPasskeys();
  }

  async function loadSessions() {
    const response = await api("GET", "/sessions");
    if (!response.ok) {
      say(await problem(response));
      return;
    }
    $("sessions").replaceChildren(...(await response.json()).map(sessionRow));
  }

  function sessionRow(session) {
    const row = document.createElement("tr");
    row.dataset.sessionId = session.id;
    const texts = [when(session.created_at), when(session.last_used_at)];
    for (const text of [...texts, session.ip ?? "", session.user_agent ?? ""]) {
      const cell = document.createElement("td");
      cell.textContent = text;
      row.append(cell);
    }
    const action = document.createElement("td");
    if (session.current) {
      action.textContent = "this browser";
    } else {
      const button = document.createElement("button");
      button.type = "button";
      button.textContent = "End";
      button.addEventListener("click", () => endSession(session.id));
      action.append(button);
    }
    row.append(action);
    return row;
  }

  async function endSession(id) {
    const response = await api("DELETE", `/sessions/${encodeURIComponent(id)}`);
    say(response.ok ? "That session has ended." : await problem(response));
    await loadSessions();
  }

  function credentials(form) {
    return { email: form.elements.email.value, password: form.elements.password.value };
  }

  // Run a form's handler on submit, with its buttons disabled meanwhile.
  function onSubmit(id, handler) {
    $(id).addEventListener("submit", (event) => {
      event.preventDefault();
      const form = event.currentTarget;
      busy(form, () => handler(form));
    });
  }

  function onClick(id, handler) {
    $(id).addEventListener("click", (event) => busy(event.currentTarget, handler));
  }

  let unverifiedEmail = ""; // the address a sign-in was refused for, until it is confirmed

  onSubmit("sign-up-form", async (form) => {
    const body = credentials(form);
    const response = await send("POST", "/sign-up", body);
    if (response.status !== 201) {
      say(await problem(response));
      return;
    }
    form.reset();
    $("sign-in-form").elements.email.value = body.email;
    say("Account created. You can sign in now.");
  });

  onSubmit("sign-in-form", async (form) => {
    const body = credentials(form);
    const response = await send("POST", "/sign-in?transport=cookie", body);
    if (await startSecondStep(response.clone())) return;
    if (!response.ok) {
      const { error, detail } = await failure(response);
      const unverified = response.status === 403 && error === "email_not_verified";
      unverifiedEmail = unverified ? body.email : "";
      $("unverified").hidden = !unverified;
      say(unverified ? "Please confirm your e-mail address before you sign in." : detail);
      return;
    }
    form.reset();
    $("unverified").hidden = true;
    schedule((await response.json()).expires_in);
    say("Signed in.");
    await loadAccount();
  });

  // For someone AUTHGATE_REQUIRE_VERIFIED_EMAIL keeps out: no session, so the address.
  onClick("resend-link", async () => {
    const response = await send("POST", "/email/verify/request", { email: unverifiedEmail });
    say(response.status === 202 ? await accepted(response) : await problem(response));
  });

  onSubmit("forgot-form", async (form) => {
    const response = await send("POST", "/password/forgot", { email: form.elements.email.value });
    if (response.status !== 202) {
      say(await problem(response));
      return;
    }
    form.reset();
    say(await accepted(response));
  });

  onClick("resend-verification", async () => {
    const response = await api("POST", "/email/verify/request");
    say(response.status === 202 ? await accepted(response) : await problem(response));
  });

  // A change that needs a recent sign-in: on RFC 9470's 401, ask who you are in place (the
  // password, with a code when two-step sign-in is on, or a passkey), then try the change
  // once more. Null when the user gives up.
  async function sensitive(method, path, body) {
    const response = await api(method, path, body);
    if (!needsSignIn(response)) return response;
    if (!(await reauthenticate())) {
      if (!$("signed-in").hidden) say("Nothing was changed: it needs you to confirm it is you.");
      return null;
    }
    const again = await api(method, path, body);
    if (!needsSignIn(again)) return again;
    say("This needs a recent sign-in. Please sign out and in again, then try once more.");
    return null;
  }

  onSubmit("password-form", async (form) => {
    const signOutOthers = form.elements.sign_out_others.checked;
    const response = await sensitive("POST", "/password/change", {
      current_password: form.elements.current_password.value,
      new_password: form.elements.new_password.value,
      sign_out_others: signOutOthers,
    });
    if (response === null) return;
    if (response.status !== 204) {
      const { error, detail } = await failure(response);
      say(error === "invalid_credentials" ? "The current password is not right." : detail);
      return;
    }
    form.reset();
    say(
      signOutOthers
        ? "Your password is changed, and your other sessions are signed out."
        : "Your password is changed.",
    );
    await loadSessions();
  });

  onSubmit("email-form", async (form) => {
    const response = await sensitive("POST", "/email/change", {
      new_email: form.elements.new_email.value,
    });
    if (response === null) return;
    if (response.status !== 202) {
      say(await problem(response));
      return;
    }
    form.reset();
    say(await accepted(response));
  });

  $("delete-start").addEventListener("click", () => {
    $("delete-confirm").hidden = false;
    $("delete-no").focus();
  });

  $("delete-no").addEventListener("click", () => {
    $("delete-confirm").hidden = true;
    $("delete-start").focus();
  });

  onClick("delete-yes", async () => {
    const response = await sensitive("DELETE", "/me");
    if (response === null) return;
    if (response.status !== 204) {
      say(await problem(response));
      return;
    }
    showSignedOut("Your account is deleted, and every session of it has ended.");
  });

  // -- the second step of a sign-in ---------------------------------------------------

  // The mfa_token of a sign-in whose password was right: kept in this variable only (never
  // in storage or the URL), and dropped once used, refused or abandoned.
  let mfaToken = null;
  let mfaByRecoveryCode = false;

  // When POST /sign-in answered mfa_required, ask for the second factor; else false.
  async function startSecondStep(response) {
    if (response.status !== 401) return false;
    const body = await response.json().catch(() => ({}));
    if (body.error !== "mfa_required" || typeof body.mfa_token !== "string") return false;
    mfaToken = body.mfa_token;
    $("sign-in-form").elements.password.value = "";
    $("sign-in-form").hidden = true;
    $("mfa-form").hidden = false;
    secondStepWith(false);
    offerPasskey(Array.isArray(body.methods) ? body.methods : []);
    say("");
    return true;
  }

  function secondStepWith(recoveryCode) {
    mfaByRecoveryCode = recoveryCode;
    const fields = $("mfa-form").elements;
    $("mfa-code").hidden = recoveryCode;
    $("mfa-recovery").hidden = !recoveryCode;
    fields.code.required = !recoveryCode;
    fields.recovery_code.required = recoveryCode;
    $("mfa-switch").textContent = recoveryCode
      ? "Use a code from your authenticator app instead"
      : "Use a recovery code instead";
    (recoveryCode ? fields.recovery_code : fields.code).focus();
  }

  function endSecondStep() {
    mfaToken = null;
    $("mfa-form").reset();
    $("mfa-form").hidden = true;
    $("sign-in-form").hidden = false;
  }

  onSubmit("mfa-form", async (form) => {
    const body = { mfa_token: mfaToken };
    if (mfaByRecoveryCode) body.recovery_code = form.elements.recovery_code.value;
    else body.code = form.elements.code.value;
    const response = await send("POST", "/sign-in/mfa?transport=cookie", body);
    if (!response.ok) {
      const { error, detail } = await failure(response);
      if (error === "invalid_credentials") {
        (mfaByRecoveryCode ? form.elements.recovery_code : form.elements.code).select();
        say(
          mfaByRecoveryCode
            ? "That recovery code is not right, or it was used already."
            : "That code is not right. Type the one the app shows now.",
        );
      } else if (error === "invalid_mfa_token") {
        endSecondStep();
        $("sign-in-form").elements.password.focus();
        say("This sign-in has expired. Please enter your password again.");
      } else {
        say(detail);
      }
      return;
    }
    endSecondStep();
    $("sign-in-form").reset();
    schedule((await response.json()).expires_in);
    say("Signed in.");
    await loadAccount();
  });

  $("mfa-switch").addEventListener("click", () => secondStepWith(!mfaByRecoveryCode));

  $("mfa-back").addEventListener("click", () => {
    endSecondStep();
    $("sign-in-form").elements.password.focus();
    say("");
  });

  // -- two-step sign-in: an authenticator app and its recovery codes ------------------

  let factors = { totp: false, recovery_codes_left: 0 }; // as GET /mfa last answered

  async function loadFactors() {
    const response = await api("GET", "/mfa");
    if (!response.ok) {
      say(await problem(response));
      return;
    }
    factors = await response.json();
    const left = factors.recovery_codes_left;
    $("two-step-state").textContent = factors.totp
      ? "On: a sign-in needs your password and a code from your authenticator app. " +
        `${left} recovery ${left === 1 ? "code" : "codes"} left.`
      : "Off: a sign-in needs only your password.";
    $("totp-start").hidden = factors.totp || !$("totp-form").hidden;
    $("totp-actions").hidden = !factors.totp;
  }

  // On sign-out: no secret, QR code or recovery code stays in the page.
  function forgetSecondFactors() {
    closeReauth(false);
    factors = { totp: false, recovery_codes_left: 0 };
    closeEnrolment();
    hideRecoveryCodes();
    $("two-step-state").textContent = "";
  }

  const SVG = "http://www.w3.org/2000/svg";
  const QR_ELEMENTS = new Set(["svg", "g", "path", "rect"]);
  const QR_ATTRIBUTES = new Set([
    "width",
    "height",
    "viewBox",
    "d",
    "transform",
    "fill",
    "stroke",
    "stroke-width",
    "x",
    "y",
    "class",
  ]);
  const ENTITIES = { amp: "&", lt: "<", gt: ">", quot: '"', apos: "'" };
  const unescapeXml = (text) => text.replace(/&(amp|lt|gt|quot|apos);/g, (_, e) => ENTITIES[e]);

  // The server's QR code (SVG from core/totp.py) rebuilt element by element. Trusted Types
  // ('none') close every string-to-markup sink, DOMParser's included, and the policy allows
  // no data: image; so only the drawing elements and attributes above are copied, and
  // nothing in the string can run. Null when it holds no <svg>.
  function qrCode(markup) {
    const tag = /<(\/?)([A-Za-z][\w:.-]*)((?:\s+[\w:.-]+\s*=\s*(?:"[^"]*"|'[^']*'))*)\s*(\/?)>/g;
    const pair = /([\w:.-]+)\s*=\s*(?:"([^"]*)"|'([^']*)')/g;
    let root = null;
    const open = []; // the open elements, innermost last; null for a skipped one
    for (const [, closing, name, attributes, selfClosing] of markup.matchAll(tag)) {
      if (closing) {
        open.pop();
        continue;
      }
      const parent = open.length ? open[open.length - 1] : undefined;
      const first = parent === undefined && root === null && name === "svg";
      let element = null;
      if (QR_ELEMENTS.has(name) && (parent || first)) {
        element = document.createElementNS(SVG, name);
        for (const [, key, double, single] of attributes.matchAll(pair)) {
          if (!QR_ATTRIBUTES.has(key)) continue;
          element.setAttribute(key, unescapeXml(double ?? single));
        }
        if (first) root = element;
        else parent.append(element);
      }
      if (!selfClosing) open.push(element); // a skipped element's insides are skipped too
    }
    return root;
  }

  function closeEnrolment() {
    $("totp-form").reset();
    $("totp-form").hidden = true;
    $("totp-qr").replaceChildren();
    $("totp-secret").textContent = "";
  }

  function showRecoveryCodes(codes) {
    const items = codes.map((code) => {
      const item = document.createElement("li");
      const text = document.createElement("code");
      text.textContent = code;
      item.append(text);
      return item;
    });
    $("recovery-list").replaceChildren(...items);
    $("recovery-codes").hidden = false;
  }

  function hideRecoveryCodes() {
    $("recovery-list").replaceChildren();
    $("recovery-codes").hidden = true;
  }

  onClick("totp-start", async () => {
    const response = await sensitive("POST", "/mfa/totp");
    if (response === null) return;
    if (!response.ok) {
      say(await problem(response));
      await loadFactors();
      return;
    }
    const enrolment = await response.json();
    const picture = qrCode(enrolment.qr_svg);
    $("totp-qr").replaceChildren(...(picture === null ? [] : [picture]));
    $("totp-secret").textContent = enrolment.secret.match(/.{1,4}/g).join(" ");
    hideRecoveryCodes();
    $("totp-start").hidden = true;
    $("totp-form").hidden = false;
    $("totp-form").elements.code.focus();
  });

  onSubmit("totp-form", async (form) => {
    const response = await api("POST", "/mfa/totp/confirm", { code: form.elements.code.value });
    if (!response.ok) {
      const { error, detail } = await failure(response);
      const wrong = "That code is not right. Type the one the app shows now.";
      say(error === "invalid_code" ? wrong : detail);
      return;
    }
    closeEnrolment();
    showRecoveryCodes((await response.json()).recovery_codes);
    say("Two-step sign-in is on. Keep your recovery codes now: they are not shown again.");
    await loadFactors();
    $("recovery-kept").focus();
  });

  $("totp-abandon").addEventListener("click", async () => {
    closeEnrolment();
    await loadFactors();
  });

  $("recovery-kept").addEventListener("click", hideRecoveryCodes);

  onClick("recovery-new", async () => {
    const response = await sensitive("POST", "/mfa/recovery-codes");
    if (response === null) return;
    if (!response.ok) {
      say(await problem(response));
      await loadFactors();
      return;
    }
    showRecoveryCodes((await response.json()).recovery_codes);
    say("Here are new recovery codes; the old ones no longer work.");
    await loadFactors();
    $("recovery-kept").focus();
  });

  onClick("totp-remove", async () => {
    const response = await sensitive("DELETE", "/mfa/totp");
    if (response === null) return;
    if (response.status !== 204) {
      say(await problem(response));
    } else {
      hideRecoveryCodes();
      say("The authenticator app is removed: a sign-in needs only your password now.");
    }
    await loadFactors();
  });

  // -- passkeys (WebAuthn) ---------------------------------------------------------------

  // WebAuthn's JSON forms carry bytes as base64url; the browser's API takes and gives
  // ArrayBuffers.
  function bytes(text) {
    const base64 = text.replace(/-/g, "+").replace(/_/g, "/");
    const padded = base64 + "===".slice((base64.length + 3) % 4);
    return Uint8Array.from(atob(padded), (c) => c.charCodeAt(0));
  }

  function base64url(buffer) {
    let binary = "";
    for (const byte of new Uint8Array(buffer)) binary += String.fromCharCode(byte);
    return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  const described = (list) => (list || []).map((c) => ({ ...c, id: bytes(c.id) }));

  // navigator.credentials.create() with POST /passkeys/register/options' answer.
  async function createPasskey(options) {
    const publicKey = {
      ...options,
      challenge: bytes(options.challenge),
      user: { ...options.user, id: bytes(options.user.id) },
      excludeCredentials: described(options.excludeCredentials),
    };
    const made = await navigator.credentials.create({ publicKey });
    return {
      id: made.id,
      rawId: base64url(made.rawId),
      type: made.type,
      authenticatorAttachment: made.authenticatorAttachment,
      clientExtensionResults: made.getClientExtensionResults(),
      response: {
        clientDataJSON: base64url(made.response.clientDataJSON),
        attestationObject: base64url(made.response.attestationObject),
        transports: made.response.getTransports ? made.response.getTransports() : [],
      },
    };
  }

  // POST /passkeys/authenticate/options' answer, for navigator.credentials.get().
  function signInOptions(options) {
    return {
      ...options,
      challenge: bytes(options.challenge),
      allowCredentials: described(options.allowCredentials),
    };
  }

  // A passkey's answer to a fresh challenge (POST /passkeys/authenticate/options); null
  // when the person cancelled or no passkey of this site is at hand.
  async function usePasskey() {
    stopAutofill(); // one ceremony at a time: this one replaces the autofill's
    const response = await send("POST", "/passkeys/authenticate/options");
    if (!response.ok) {
      say(await problem(response));
      return null;
    }
    const publicKey = signInOptions(await response.json());
    let used;
    try {
      used = await navigator.credentials.get({ publicKey });
    } catch (error) {
      if (error.name !== "NotAllowedError") throw error;
      say("No passkey was used.");
      return null;
    }
    return assertion(used);
  }

  // The JSON form of navigator.credentials.get()'s answer, for POST /sign-in/passkey.
  function assertion(used) {
    const userHandle = used.response.userHandle;
    return {
      id: used.id,
      rawId: base64url(used.rawId),
      type: used.type,
      authenticatorAttachment: used.authenticatorAttachment,
      clientExtensionResults: used.getClientExtensionResults(),
      response: {
        clientDataJSON: base64url(used.response.clientDataJSON),
        authenticatorData: base64url(used.response.authenticatorData),
        signature: base64url(used.response.signature),
        userHandle: userHandle ? base64url(userHandle) : null,
      },
    };
  }

  async function signedInBy(response) {
    schedule((await response.json()).expires_in);
    $("sign-in-form").reset();
    $("unverified").hidden = true;
    say("Signed in.");
    await loadAccount();
  }

  onClick("passkey-sign-in", async () => {
    const credential = await usePasskey();
    if (credential !== null) await signInWithPasskey(credential);
  });

  async function signInWithPasskey(credential) {
    const response = await send("POST", "/sign-in/passkey?transport=cookie", { credential });
    if (!response.ok) {
      const { error, detail } = await failure(response);
      say(error === "invalid_credentials" ? "That passkey could not sign you in." : detail);
      return;
    }
    await signedInBy(response);
  }

  // Passkey autofill (WebAuthn's conditional mediation): where the browser offers it, the
  // sign-in form's e-mail field lists this site's passkeys, and picking one signs in as the
  // button does. One request waits meanwhile; it is aborted before any other ceremony and
  // once signed in. body[data-passkey-autofill] says "waiting" while it waits.
  let autofill = null; // the AbortController of the waiting request

  function stopAutofill() {
    if (autofill === null) return;
    autofill.abort();
    autofill = null;
    document.body.dataset.passkeyAutofill = "stopped";
  }

  async function offerAutofill() {
    const available = window.PublicKeyCredential?.isConditionalMediationAvailable;
    if (typeof available !== "function") return;
    if (!(await available.call(PublicKeyCredential)) || autofill !== null) return;
    const controller = new AbortController();
    autofill = controller;
    $("sign-in-form").elements.email.autocomplete = "username webauthn";
    const response = await send("POST", "/passkeys/authenticate/options");
    if (!response.ok || controller.signal.aborted) {
      if (autofill === controller) autofill = null;
      return;
    }
    const publicKey = signInOptions(await response.json());
    if (controller.signal.aborted) return;
    const request = { mediation: "conditional", publicKey, signal: controller.signal };
    document.body.dataset.passkeyAutofill = "waiting";
    let used;
    try {
      used = await navigator.credentials.get(request);
    } catch {
      // AbortError when stopped; else the browser gave up (NotAllowedError): nothing to say.
      if (autofill === controller) {
        autofill = null;
        document.body.dataset.passkeyAutofill = "ended";
      }
      return;
    }
    if (autofill !== controller) return; // stopped as the passkey was picked
    autofill = null;
    document.body.dataset.passkeyAutofill = "used";
    await busy($("sign-in-form"), () => signInWithPasskey(assertion(used)));
  }

  // The second step with a passkey, for an account that has one; an account without an
  // authenticator app has no code to type.
  function offerPasskey(methods) {
    const app = methods.includes("totp") || !methods.includes("passkey");
    $("mfa-passkey").hidden = !methods.includes("passkey");
    for (const id of ["mfa-code", "mfa-submit", "mfa-switch"]) $(id).hidden = !app;
    $("mfa-form").elements.code.required = app;
    if (!app) $("mfa-passkey").focus();
  }

  onClick("mfa-passkey", async () => {
    const passkey = await usePasskey();
    if (passkey === null) return;
    const body = { mfa_token: mfaToken, passkey };
    const response = await send("POST", "/sign-in/mfa?transport=cookie", body);
    if (!response.ok) {
      const { error, detail } = await failure(response);
      if (error === "invalid_mfa_token") {
        endSecondStep();
        $("sign-in-form").elements.password.focus();
        say("This sign-in has expired. Please enter your password again.");
      } else {
        say(error === "invalid_credentials" ? "That is not a passkey of this account." : detail);
      }
      return;
    }
    endSecondStep();
    await signedInBy(response);
  });

  async function loadPasskeys() {
    const response = await api("GET", "/passkeys");
    if (!response.ok) {
      say(await problem(response));
      return;
    }
    $("passkey-list").replaceChildren(...(await response.json()).map(passkeyItem));
  }

  function passkeyItem(passkey) {
    const item = document.createElement("li");
    item.dataset.passkeyId = passkey.id;
    const name = document.createElement("input");
    name.value = passkey.name;
    name.maxLength = 64;
    name.setAttribute("aria-label", "Passkey name");
    const rename = document.createElement("button");
    rename.type = "button";
    rename.textContent = "Rename";
    rename.addEventListener("click", () => busy(rename, () => renamePasskey(passkey, name)));
    const remove = document.createElement("button");
    remove.type = "button";
    remove.textContent = "Remove";
    remove.addEventListener("click", () => busy(remove, () => removePasskey(passkey)));
    const about = document.createElement("span");
    about.className = "hint";
    const used = passkey.last_used_at ? `last used ${when(passkey.last_used_at)}` : "not used yet";
    about.textContent = ` added ${when(passkey.created_at)}, ${used}`;
    item.append(name, " ", rename, " ", remove, about);
    return item;
  }

  async function renamePasskey(passkey, field) {
    const path = `/passkeys/${encodeURIComponent(passkey.id)}`;
    const response = await api("PATCH", path, { name: field.value });
    say(response.ok ? "The passkey is renamed." : await problem(response));
    await loadPasskeys();
  }

  async function removePasskey(passkey) {
    const response = await sensitive("DELETE", `/passkeys/${encodeURIComponent(passkey.id)}`);
    if (response === null) return;
    say(response.status === 204 ? "The passkey is removed." : await problem(response));
    await loadPasskeys();
  }

  onSubmit("passkey-form", async (form) => {
    const options = await sensitive("POST", "/passkeys/register/options");
    if (options === null) return;
    if (!options.ok) {
      say(await problem(options));
      return;
    }
    let credential;
    try {
      credential = await createPasskey(await options.json());
    } catch (error) {
      if (error.name === "InvalidStateError") {
        say("This device has a passkey for your account already.");
      } else if (error.name === "NotAllowedError") {
        say("No passkey was added.");
      } else {
        throw error;
      }
      return;
    }
    const name = form.elements.name.value.trim() || "Passkey";
    const response = await api("POST", "/passkeys", { credential, name });
    if (response.status !== 201) {
      say(await problem(response));
      return;
    }
    form.reset();
    say("The passkey is added: you can sign in with it now.");
    await loadPasskeys();
  });

  $("passkey-sign-in-row").hidden = !window.PublicKeyCredential;

  // -- step-up in place (RFC 9470) ------------------------------------------------------

  let reauthByRecoveryCode = false;
  let reauthDone = null; // settles the open dialog's promise: true once re-authenticated

  // Ask who you are in a modal dialog, as completely as a sign-in does: the password; with
  // an authenticator app, the password and a code; or a passkey, alone. True once
  // POST /reauthenticate gave this session a fresh sign-in time, false if the user gave up.
  function reauthenticate() {
    closeReauth(false);
    const first = layOutReauth();
    $("reauth").showModal();
    first.focus();
    return new Promise((resolve) => {
      reauthDone = resolve;
    });
  }

  // A passkey can confirm it alone, where the browser has WebAuthn and the account a passkey.
  function reauthPasskey() {
    return Boolean(window.PublicKeyCredential) && $("passkey-list").childElementCount > 0;
  }

  // The password with the app's code, the password alone (no second factor), or only the
  // passkey button (passkeys but no app: the password alone would be refused). Returns the
  // control to start with.
  function layOutReauth() {
    const app = factors.totp;
    const password = app || !reauthPasskey();
    const fields = $("reauth-form").elements;
    $("reauth-password").hidden = !password;
    $("reauth-submit").hidden = !password;
    fields.password.required = password;
    $("reauth-switch").hidden = !app;
    $("reauth-passkey").hidden = !reauthPasskey();
    $("reauth-passkey").textContent = password ? "Use your passkey instead" : "Use your passkey";
    reauthWith(app, false);
    return password ? fields.password : $("reauth-passkey");
  }

  function reauthWith(app, recoveryCode) {
    reauthByRecoveryCode = recoveryCode;
    const fields = $("reauth-form").elements;
    $("reauth-code").hidden = !app || recoveryCode;
    $("reauth-recovery").hidden = !app || !recoveryCode;
    fields.code.required = app && !recoveryCode;
    fields.recovery_code.required = app && recoveryCode;
    $("reauth-switch").textContent = recoveryCode
      ? "Use a code from your authenticator app instead"
      : "Use a recovery code instead";
  }

  function closeReauth(succeeded) {
    const done = reauthDone;
    reauthDone = null;
    if ($("reauth").open) $("reauth").close();
    $("reauth-form").reset();
    $("reauth-error").textContent = "";
    if (done !== null) done(succeeded);
  }

  $("reauth").addEventListener("close", () => closeReauth(false)); // Escape closes it too
  $("reauth-cancel").addEventListener("click", () => closeReauth(false));

  $("reauth-switch").addEventListener("click", () => {
    reauthWith(true, !reauthByRecoveryCode);
    const fields = $("reauth-form").elements;
    (reauthByRecoveryCode ? fields.recovery_code : fields.code).focus();
  });

  onSubmit("reauth-form", async (form) => {
    const body = { password: form.elements.password.value };
    if (factors.totp) {
      if (reauthByRecoveryCode) body.recovery_code = form.elements.recovery_code.value;
      else body.code = form.elements.code.value;
    }
    const response = await api("POST", "/reauthenticate", body);
    if (await reauthenticated(response)) return;
    const { error, detail } = await failure(response);
    if (error === "invalid_credentials") {
      let what = "password";
      if (factors.totp) what += reauthByRecoveryCode ? " or recovery code" : " or code";
      $("reauth-error").textContent = `That ${what} is not right.`;
      form.elements.password.select();
    } else {
      await reauthRefused(response, error, detail);
    }
  });

  onClick("reauth-passkey", async () => {
    const passkey = await usePasskey();
    if (passkey === null) return;
    const response = await api("POST", "/reauthenticate", { passkey });
    if (await reauthenticated(response)) return;
    const { error, detail } = await failure(response);
    if (error === "invalid_credentials") {
      $("reauth-error").textContent = "That passkey could not confirm it is you.";
    } else {
      await reauthRefused(response, error, detail);
    }
  });

  // The session's new tokens came in cookies: refresh on their schedule, close the dialog.
  async function reauthenticated(response) {
    if (!response.ok) return false;
    schedule((await response.json()).expires_in);
    closeReauth(true);
    return true;
  }

  async function reauthRefused(response, error, detail) {
    if (error === "full_authentication_required") {
      // A second factor was added since this page looked (another tab): ask for it too.
      await loadFactors();
      await loadPasskeys();
      layOutReauth();
      $("reauth-error").textContent = "Your account has two-step sign-in now: confirm with it too.";
    } else if (response.status === 401) {
      closeReauth(false);
      showSignedOut("Your session has ended. Please sign in again.");
    } else {
      $("reauth-error").textContent = detail;
    }
  }

  $("reload").addEventListener("click", loadAccount);

  $("sign-out").addEventListener("click", async () => {
    const response = await api("POST", "/sign-out");
    if (!response.ok) {
      say(await problem(response));
      return;
    }
    showSignedOut("Signed out.");
  });

  // A CSRF cookie means a session may still be alive: refresh, which also starts the timer.
  (async () => {
    if (csrfToken() && (await refresh())) {
      await loadAccount();
    } else {
      showSignedOut("");
      offerAutofill().catch(() => stopAutofill()); // never an unhandled rejection
    }
    // The security notices link to /#forgot-password (no element has that id, so the
    // browser's own jump to it does not take the focus away again).
    if (location.hash === "#forgot-password" && !$("signed-out").hidden) {
      $("forgot-form").elements.email.focus();
    }
  })();
})();
