"""docs/security.md against the code: the browser policy, the cryptographic inventory and
the log inventory cannot silently go stale.

ASVS 5.0 asks for these in writing (V3.1.1, V11.1.1 to V11.1.4, V16.1.1). Each test finds
its section by its `## ` heading and checks it against what the code does: every cookie
and header the app sends, every algorithm, key purpose, hash function, key-derivation
label and module that uses cryptography (found by scanning the source, so new cryptography
cannot appear unlisted), and every kind of audit event the code records.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from authgate.core import store
from authgate.core.keychain import SERVER_KEYS
from authgate.core.keys import ALGORITHMS, MIN_RSA_BITS, PUBLIC_JWK_SHAPES
from authgate.core.passwords import BCRYPT_MAX_COST, RECOMMENDED
from authgate.web import docs, page
from authgate.web.cookies import Cookies
from authgate.web.headers import FLOOR, HSTS
from authgate.web.logs import LOGGERS

ROOT = Path(__file__).resolve().parent.parent
SECURITY = ROOT / "docs" / "security.md"
SRC = ROOT / "src" / "authgate"


def section(heading: str) -> str:
    """The text under `## heading` in docs/security.md, up to the next `## ` heading."""
    text = SECURITY.read_text(encoding="utf-8")
    found = re.search(rf"^## {re.escape(heading)}\n(.*?)(?=^## |\Z)", text, re.M | re.S)
    assert found, f"docs/security.md has no '## {heading}' section"
    return found[1]


def subsection(text: str, heading: str) -> str:
    found = re.search(rf"^### {re.escape(heading)}\n(.*?)(?=^##|\Z)", text, re.M | re.S)
    assert found, f"no '### {heading}'"
    return found[1]


def modules() -> Iterator[tuple[str, ast.Module]]:
    """Each source module as `core/keys.py`, parsed."""
    for path in sorted(SRC.rglob("*.py")):
        yield path.relative_to(SRC).as_posix(), ast.parse(path.read_text(encoding="utf-8"))


# -- ## Browsers (V3.1.1) ------------------------------------------------------------------


def test_the_browser_section_names_every_cookie_with_both_of_its_names() -> None:
    browsers = section("Browsers")

    for secure in (True, False):
        cookies = Cookies(secure=secure, same_site="lax")
        for name in (cookies.access, cookies.refresh, cookies.csrf):
            assert f"`{name}`" in browsers, name


def test_the_browser_section_gives_every_header_and_policy_the_pages_and_the_api_send() -> None:
    browsers = section("Browsers")
    sent = {**FLOOR, **page.HEADERS, **docs.PAGE_HEADERS, "Strict-Transport-Security": HSTS}

    for name, value in sent.items():
        assert f"`{name}`" in browsers, name
        assert value in browsers, f"{name}: {value}"
    for policy in (page.CONTENT_SECURITY_POLICY, docs.CONTENT_SECURITY_POLICY):
        assert f"`{policy}`" in browsers


def test_the_browser_section_says_what_happens_without_each_feature() -> None:
    table = subsection(section("Browsers"), "What the browser must support")
    rows = [line for line in table.splitlines() if line.startswith("| ") and "---" not in line]

    assert len(rows) > 5
    for row in rows[1:]:
        cells = [cell.strip() for cell in row.strip("|").split(" | ")]
        assert len(cells) == 3, row  # the feature, what relies on it, what happens without
        assert all(cells), row


# -- ## Keys and cryptography (V11.1.1 to V11.1.4) ---------------------------------------

CRYPTO_LIBRARIES = {
    "cryptography": "`cryptography`",
    "joserfc": "`joserfc`",
    "argon2": "`argon2-cffi`",
    "bcrypt": "`bcrypt`",
    "webauthn": "`webauthn`",
    "pyotp": "`pyotp`",
    "hashlib": "`hashlib`",
    "hmac": "`hmac`",
    "secrets": "`secrets`",
    "ssl": "`ssl`",
}
# Libraries that would bring cryptography of their own, or randomness that is not.
UNVETTED = {"jwt", "jose", "Crypto", "Cryptodome", "nacl", "passlib", "itsdangerous", "ecdsa",
            "rsa", "random", "pyaes", "simplejson_crypto"}  # fmt: skip
# authgate's own sealing functions: a module calling them uses cryptography too.
SEALING = {"seal", "unseal", "seal_successor", "open_successor"}
HASH_NAMES = {"sha1": "SHA-1", "sha256": "SHA-256", "SHA256": "SHA-256", "sha512": "SHA-512"}


def cryptography_used() -> dict[str, set[str]]:
    """Module -> the cryptographic libraries, hash functions and sealing it uses."""
    found: dict[str, set[str]] = {}
    for name, tree in modules():
        uses = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                uses |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                uses.add(node.module.split(".")[0])
                if node.module.startswith("authgate."):
                    uses |= {a.name for a in node.names if a.name in SEALING}
            elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
                if node.value.id in {"hashlib", "hashes"}:
                    uses.add(f"hash:{node.attr}")
                elif (node.value.id, node.attr) == ("os", "urandom"):
                    uses.add("secrets")
        uses &= {*CRYPTO_LIBRARIES, *UNVETTED, *SEALING} | {u for u in uses if ":" in u}
        if uses:
            found[name] = uses
    return found


def test_cryptography_is_found_by_scanning_the_source_and_every_user_is_in_the_inventory() -> None:
    inventory = section("Keys and cryptography")
    found = cryptography_used()

    assert {"core/keys.py", "core/sessions.py", "core/passwords.py", "web/csrf.py"} <= set(found)
    for module in found:
        assert f"`{module}`" in inventory, f"{module} uses cryptography: add it to the inventory"


def test_only_the_vetted_libraries_of_the_inventory_do_cryptography() -> None:
    inventory = section("Keys and cryptography")
    libraries = {use for uses in cryptography_used().values() for use in uses}

    assert not libraries & UNVETTED
    for library in libraries & CRYPTO_LIBRARIES.keys():
        assert CRYPTO_LIBRARIES[library] in inventory, library


def test_every_hash_function_the_code_calls_is_in_the_inventory_and_sha1_only_where_it_says(
) -> None:  # fmt: skip
    inventory = section("Keys and cryptography")
    calls = {
        (use.removeprefix("hash:"), module)
        for module, uses in cryptography_used().items()
        for use in uses
        if use.startswith("hash:")
    }

    assert {"sha256", "SHA256"} <= {name for name, _ in calls}
    for name, module in calls:
        assert name in HASH_NAMES, f"{module} uses {name}: inventory it (and never MD5)"
        assert HASH_NAMES[name] in inventory, name
    sha1 = {module for name, module in calls if name == "sha1"}
    assert sha1 <= {"core/breached.py"}  # a lookup key of the Pwned Passwords API only


def test_every_signing_algorithm_and_its_key_size_is_in_the_inventory() -> None:
    inventory = section("Keys and cryptography")

    for alg in ALGORITHMS:
        assert f"`{alg}`" in inventory, alg
    assert f"RSA {MIN_RSA_BITS}-bit" in inventory
    assert "P-256" in inventory
    assert "Ed25519" in inventory


def test_every_server_key_purpose_is_in_the_inventory_and_the_policy() -> None:
    inventory = section("Keys and cryptography")

    assert "`SERVER_KEYS`" in inventory
    for purpose in SERVER_KEYS:
        assert inventory.count(f"`{purpose}`") >= 2, purpose  # the policy and the table


def test_the_password_hashing_parameters_in_the_inventory_are_the_ones_in_use() -> None:
    inventory = section("Keys and cryptography")

    assert f"m={RECOMMENDED.memory_cost_kib} KiB" in inventory
    assert f"t={RECOMMENDED.time_cost}" in inventory
    assert f"p={RECOMMENDED.parallelism}" in inventory
    assert f"costs up to {BCRYPT_MAX_COST}" in inventory


def test_every_key_derivation_label_in_the_code_is_in_the_inventory() -> None:
    inventory = section("Keys and cryptography")
    labels = set()
    for _, tree in modules():
        for node in ast.walk(tree):
            if isinstance(node, ast.keyword) and node.arg == "info":
                value = node.value
                if isinstance(value, ast.Name):  # a module constant, e.g. SUCCESSOR_KEY_INFO
                    value = next(
                        n.value
                        for n in ast.walk(tree)
                        if isinstance(n, ast.Assign)
                        and any(isinstance(t, ast.Name) and t.id == value.id for t in n.targets)
                    )
                assert isinstance(value, ast.Constant)
                assert isinstance(value.value, bytes)
                labels.add(value.value.decode())

    assert len(labels) >= 2  # sealing at rest, and the grace window's successors
    for label in labels:
        assert f"`{label}`" in inventory, label


def test_the_key_policy_covers_each_stage_of_a_keys_life() -> None:
    policy = subsection(section("Keys and cryptography"), "Key management policy")

    stages = re.findall(r"^- \*\*([A-Z][a-z ]+)\.\*\*", policy, re.M)
    assert stages == [
        "Generation",
        "Storage",
        "Distribution and sharing",
        "Use",
        "Rotation",
        "Retirement and destruction",
        "Compromise",
    ]
    assert "`authgate keys rotate`" in policy
    assert "`AUTHGATE_KEY_ROTATION_DELAY`" in policy


def test_the_migration_plan_covers_every_asymmetric_algorithm() -> None:
    plan = subsection(section("Keys and cryptography"), "Migration plan")

    assert "post-quantum" in plan.lower()
    for alg in PUBLIC_JWK_SHAPES:
        assert f"`{alg}`" in plan, alg


# -- ## Security events and logs (V16.1.1) -------------------------------------------------

# Where an AuditEvent is made with a kind that is not written out: the functions that pass
# on a kind (or a session-ending reason) their callers name, and the store reading rows.
FORWARDERS = {
    ("core/account_mail.py", "_record"),
    ("core/factors.py", "_record"),
    ("core/passkeys.py", "_record"),
    ("core/sessions.py", "_revoke"),
    ("core/sessions.py", "end_all"),
    ("core/sessions.py", "end_everyones"),
    ("storage/sql.py", "audit_events"),
}
KIND_ARGUMENT = {"_record": 0, "_changed": 1}  # the helpers' argument that is the kind
REASON_TAKERS = {"_revoke", "end", "end_all", "end_everyones", "cut_off"}


def _enclosing(tree: ast.Module) -> dict[ast.AST, str]:
    """Each node -> the name of the innermost function around it."""
    owner: dict[ast.AST, str] = {}
    for function in ast.walk(tree):
        if isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef):
            for node in ast.walk(function):
                owner[node] = function.name  # inner functions are walked later and win
    return owner


def _literal(node: ast.expr | None) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.Name) and isinstance(getattr(store, node.id, None), str):
        return str(getattr(store, node.id))  # a kind named in core/store.py
    return None


def recorded_kinds() -> tuple[set[str], list[str]]:
    """Every audit kind the source can record, and each place the scan cannot follow."""
    kinds: set[str] = set()
    unfollowed: list[str] = []
    for module, tree in modules():
        owner = _enclosing(tree)
        for node in ast.walk(tree):
            where = f"{module}:{getattr(node, 'lineno', '?')}"
            if isinstance(node, ast.FunctionDef) and node.name in REASON_TAKERS:
                for arg, default in zip(node.args.kwonlyargs, node.args.kw_defaults, strict=True):
                    if arg.arg == "reason" and (kind := _literal(default)) is not None:
                        kinds.add(kind)
            if not isinstance(node, ast.Call):
                continue
            func = node.func
            called = func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)
            if called == "AuditEvent":
                given = node.args[0] if node.args else None
                given = given or next((k.value for k in node.keywords if k.arg == "kind"), None)
                if (kind := _literal(given)) is not None:
                    kinds.add(kind)
                elif (module, owner.get(node)) not in FORWARDERS:
                    unfollowed.append(f"{where}: AuditEvent({ast.unparse(given or node)})")
            elif called in KIND_ARGUMENT and len(node.args) > KIND_ARGUMENT[called]:
                given = node.args[KIND_ARGUMENT[called]]
                if (kind := _literal(given)) is not None:
                    kinds.add(kind)
                elif owner.get(node) != "_changed":
                    unfollowed.append(f"{where}: {called}({ast.unparse(given)})")
            elif called in REASON_TAKERS:
                for keyword in node.keywords:
                    if keyword.arg != "reason":
                        continue
                    if (kind := _literal(keyword.value)) is not None:
                        kinds.add(kind)
                    elif owner.get(node) not in REASON_TAKERS:
                        unfollowed.append(f"{where}: {called}(reason={ast.unparse(keyword.value)})")
    return kinds, unfollowed


def documented_kinds() -> set[str]:
    events = subsection(section("Security events and logs"), "Security events")
    return set(re.findall(r"^\| `([a-z_]+)` \|", events, re.M))


def test_the_scan_follows_every_place_an_audit_event_is_made() -> None:
    """A kind made up at run time somewhere new would escape the scan: name its forwarder."""
    kinds, unfollowed = recorded_kinds()

    assert unfollowed == []
    assert {"sign_in", "sign_in_failed", "refresh_token_reused", "session_limit"} <= kinds


def test_every_audit_event_kind_the_code_records_is_in_the_log_inventory() -> None:
    kinds, _ = recorded_kinds()

    assert sorted(kinds - documented_kinds()) == []


def test_the_log_inventory_lists_no_kind_the_code_never_records() -> None:
    kinds, _ = recorded_kinds()

    assert sorted(documented_kinds() - kinds) == []


@pytest.mark.parametrize(
    "named",
    [
        *(f"`{logger}`" for logger in LOGGERS),
        "`audit_events`",
        "`authgate audit",
        "[--json]",
        "`AUTHGATE_LOG_FORMAT`",
        "`AUTHGATE_LOG_LEVEL`",
        "`text`",
        "`json`",
        "stderr",
        "UTC",
        "`authgate_security_events_total{kind}`",
    ],
)
def test_the_log_inventory_names_each_destination_format_and_reader(named: str) -> None:
    assert named in section("Security events and logs")


def test_the_log_inventory_says_for_each_layer_what_where_who_and_how_long() -> None:
    inventory = subsection(section("Security events and logs"), "Log inventory")
    header, _, *rows = [line for line in inventory.splitlines() if line.startswith("|")]

    assert [cell.strip() for cell in header.strip("|").split("|")] == [
        "layer",
        "what is logged",
        "format",
        "where it goes",
        "who reads it",
        "kept",
    ]
    assert len(rows) >= 3
    for row in rows:
        assert all(cell.strip() for cell in row.strip("|").split(" | ")), row
