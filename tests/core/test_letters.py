"""Letters: rendered from templates (an operator's override wins), packed for the outbox."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from jinja2.exceptions import SecurityError

from authgate.core.letters import KINDS, Letter, Templates, message_id, pack, unpack
from authgate.errors import ConfigurationError
from helpers import KEY_ENCRYPTION_KEY

NOW = datetime(2030, 1, 1, tzinfo=UTC)
CONTEXT = {
    "product": "authgate",
    "what": "an authenticator app was set up",
    "public_url": "https://accounts.example.com",
    "link": "https://accounts.example.com/email/verify?token=abc",
    "expires": "1 day",
    "old_email": "old@example.com",
    "new_email": "new@example.com",
    "when": "2030-01-01 00:00 UTC",
    "how": "changed",
    "forgot_url": "https://accounts.example.com/#forgot-password",
}


@pytest.mark.parametrize("kind", KINDS)
def test_every_built_in_template_renders_a_subject_and_both_bodies(kind: str) -> None:
    letter = Templates().render(kind, to="ada@example.com", context=CONTEXT)
    assert letter.subject
    assert "\n" not in letter.subject
    assert "ada@example.com" in letter.text + letter.html or kind == "email_changed"
    assert letter.html.lstrip().startswith("<!doctype html>")


def test_html_is_escaped_and_text_is_not() -> None:
    hostile = '"<script>alert(1)</script>"@example.com'
    letter = Templates().render("verify_email", to=hostile, context=CONTEXT)
    assert "<script>" not in letter.html
    assert "&lt;script&gt;" in letter.html
    assert hostile in letter.text


def test_an_operators_template_replaces_the_built_in_one(tmp_path: Path) -> None:
    (tmp_path / "verify_email.txt").write_text(
        "Subject: Welcome to {{ product }}\n\nGo: {{ link }}\n"
    )
    letter = Templates(tmp_path).render("verify_email", to="ada@example.com", context=CONTEXT)
    assert letter.subject == "Welcome to authgate"
    assert letter.text == f"Go: {CONTEXT['link']}\n"
    assert "Confirm my address" in letter.html  # the HTML one is still the package's


@pytest.mark.parametrize(
    "broken",
    ["Subject: {{ unclosed\n", "Subject: {% for %}\n"],
)
def test_a_broken_override_stops_startup(tmp_path: Path, broken: str) -> None:
    (tmp_path / "reset_password.txt").write_text(broken)
    with pytest.raises(ConfigurationError, match="AUTHGATE_MAIL_TEMPLATES"):
        Templates(tmp_path)


def test_a_template_cannot_reach_outside_its_values(tmp_path: Path) -> None:
    (tmp_path / "verify_email.txt").write_text(
        "Subject: x\n\n{{ link.__class__.__mro__[1].__subclasses__() }}\n"
    )
    templates = Templates(tmp_path)
    with pytest.raises(SecurityError):
        templates.render("verify_email", to="ada@example.com", context=CONTEXT)


def test_a_text_template_without_a_subject_line_is_refused(tmp_path: Path) -> None:
    (tmp_path / "verify_email.txt").write_text("Hello {{ email }}\n")
    with pytest.raises(ValueError, match="Subject"):
        Templates(tmp_path).render("verify_email", to="ada@example.com", context=CONTEXT)


def test_a_sealed_envelope_hides_its_body_and_opens_with_the_key() -> None:
    letter = Letter("reset_password", "ada@example.com", "Reset", "token=SECRET", "<p>SECRET</p>")
    envelope = pack(letter, now=NOW, key_encryption_key=KEY_ENCRYPTION_KEY)
    assert envelope.body is not None
    assert b"SECRET" not in envelope.body
    assert unpack(envelope, key_encryption_key=KEY_ENCRYPTION_KEY) == letter
    with pytest.raises(ConfigurationError):
        unpack(envelope, key_encryption_key=None)


def test_message_ids_are_stable_and_on_the_senders_domain() -> None:
    assert message_id("abc", sender="authgate <no-reply@example.com>") == "<abc@example.com>"
    assert message_id("abc", sender="no-reply@example.com") == message_id(
        "abc", sender="Other Name <no-reply@example.com>"
    )
