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
  async function api(method, path, body) {
    const response = await send(method, path, body);
    if (response.status !== 401 || !(await refresh())) return response;
    return send(method, path, body);
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

  async function problem(response) {
    try {
      const body = await response.json();
      return body.detail || body.error || `HTTP ${response.status}`;
    } catch {
      return `HTTP ${response.status}`;
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
    for (const id of ["me-email", "me-id", "me-created"]) $(id).textContent = "";
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

  $("sign-up-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const form = event.currentTarget;
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

  $("sign-in-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const form = event.currentTarget;
    const response = await send("POST", "/sign-in?transport=cookie", credentials(form));
    if (!response.ok) {
      say(await problem(response));
      return;
    }
    form.reset();
    schedule((await response.json()).expires_in);
    say("Signed in.");
    await loadAccount();
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
  })();
})();
