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
    $("signed-out").hidden = true;
    $("signed-in").hidden = false;
    await loadSessions();
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

  // A change that needs a recent sign-in: on RFC 9470's 401, sign out and ask for the
  // password again. No retry: the user starts the change again once signed in.
  async function sensitive(method, path, body) {
    const response = await api(method, path, body);
    if (!needsSignIn(response)) return response;
    const email = $("me-email").textContent;
    await send("POST", "/sign-out").catch(() => undefined);
    showSignedOut("This needs a recent sign-in. Please sign in again, then try once more.");
    const form = $("sign-in-form");
    form.elements.email.value = email;
    form.elements.password.focus();
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
    if (csrfToken() && (await refresh())) await loadAccount();
    else showSignedOut("");
    // The security notices link to /#forgot-password (no element has that id, so the
    // browser's own jump to it does not take the focus away again).
    if (location.hash === "#forgot-password" && !$("signed-out").hidden) {
      $("forgot-form").elements.email.focus();
    }
  })();
})();
