// The page every mailed link opens (web/page.py). Opening it changes nothing: it reads the
// token from the address and POSTs it to the same path only when the button is pressed,
// since mail scanners open links too. Every text is set with textContent (Trusted Types).
"use strict";

const PAGES = {
  "/email/verify": {
    title: "Confirm your e-mail address",
    explain: "Press the button to confirm that this address is yours.",
    button: "Confirm my address",
    done: "Your address is confirmed. Thank you!",
    home: "Go to your account",
    dead: "Sign in to have a new link sent.",
  },
  "/password/reset": {
    title: "Choose a new password",
    explain: "Type the new password for your account. Setting it signs you out everywhere.",
    button: "Set my new password",
    done: "Your password is set. Sign in with it now.",
    home: "Sign in",
    dead: "You can ask for a new link on your account page.",
    retry: { href: "/#forgot-password", text: "Ask for a new link" },
    password: true,
  },
  "/email/change/confirm": {
    title: "Confirm your new e-mail address",
    explain: "Press the button to sign in with this address from now on.",
    button: "Confirm my new address",
    done: "Your new address is confirmed. Sign in with it from now on.",
    home: "Go to your account",
    dead: "Sign in and change the address again to have a new link sent.",
  },
  "/email/change/revert": {
    title: "This wasn't me",
    explain:
      "This puts your old address back, signs everyone out of your account and " +
      "mails you a link to set a new password.",
    button: "Secure my account",
    done: "Done. Check your mail for the link to set a new password.",
    home: "Go to your account",
    dead: "If your account still looks wrong, reset your password from your account page.",
    retry: { href: "/#forgot-password", text: "Reset my password" },
  },
};

function show(id, text) {
  document.getElementById(id).textContent = text;
}

// The server's words ("this link is invalid, already used or expired") as a sentence.
function sentence(text) {
  const said = text.trim();
  if (!said) return said;
  const capital = said[0].toUpperCase() + said.slice(1);
  return /[.!?]$/.test(capital) ? capital : `${capital}.`;
}

async function failure(answer) {
  const body = await answer.json().catch(() => ({}));
  const detail = typeof body.detail === "string" ? sentence(body.detail) : "";
  return { error: body.error, detail: detail || `Something went wrong (HTTP ${answer.status}).` };
}

document.addEventListener("DOMContentLoaded", () => {
  const page = PAGES[location.pathname];
  const token = new URLSearchParams(location.search).get("token");
  if (!page || !token) {
    show("status", "This link is incomplete. Open it again from the mail, whole.");
    return;
  }
  document.title = page.title;
  show("title", page.title);
  show("explain", page.explain);
  show("confirm", page.button);
  const form = document.getElementById("link-form");
  const button = document.getElementById("confirm");
  const home = document.getElementById("home");
  const password = form.elements.namedItem("password");
  if (page.password) {
    document.getElementById("password-field").hidden = false;
    document.getElementById("password-hint").hidden = false;
    password.required = true;
  }
  form.hidden = false;
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const body = page.password ? { token, password: password.value } : { token };
    button.disabled = true;
    show("status", "Working…");
    let answer;
    try {
      answer = await fetch(location.pathname, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify(body),
        credentials: "same-origin",
        cache: "no-store",
      });
    } catch {
      button.disabled = false;
      show("status", "The server did not answer. Try again.");
      return;
    }
    if (answer.status === 204) {
      form.reset();
      form.hidden = true;
      show("explain", "");
      show("status", page.done);
      home.textContent = page.home;
      return;
    }
    const { error, detail } = await failure(answer);
    if (error === "invalid_link") {
      // Unknown, used or expired: pressing again cannot help.
      form.hidden = true;
      show("status", `${detail} ${page.dead}`);
      if (page.retry) {
        home.href = page.retry.href;
        home.textContent = page.retry.text;
      }
      return;
    }
    button.disabled = false; // a password the policy refused, a throttle: try again
    show("status", detail);
  });
});
