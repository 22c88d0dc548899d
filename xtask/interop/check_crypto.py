#!/usr/bin/env python3
"""Checks that the official InCountry Python SDK reads what incountry-rs writes.

Usage: check_crypto.py CASES.json

CASES.json is written by `crates/incountry-crypto/tests/interop.rs` and holds three lists:

- "ciphers": {"id", "secrets", "version", "ciphertext", "plaintext"}
- "records": {"id", "secrets", "env_id", "normalize_keys", "hash_search_keys",
              "record" (the plain record), "wire" (our encrypted record),
              "expected" (what decrypting the wire record must give)}
- "hashes":  {"id", "value", "env_id", "normalize", "hash"}

Cipher cases include ciphertexts written with salt reuse (several records sharing one
random salt and so one derived key, each with its own IV) and without it; the SDK reads the
salt from each ciphertext, so it must decrypt both alike. Nothing here assumes either.

"secrets" is what the SDK's secret key accessor returns: a password string, the
{"currentVersion", "secrets"} object, or null for no-encryption mode.

Prints one JSON report to stdout: the SDK version, the number of cases checked per
list, and for every case {"id", "ok", "got"} plus "error" (the SDK raised) or
"mismatch" (it returned something else). Exits 0 whenever the cases could be
checked, mismatches included; non-zero only when it could not run at all.
"""

import json
import sys
import traceback

try:
    from incountry.__version__ import __version__ as SDK_VERSION
    from incountry.crypto_utils import (
        KEYS_TO_HASH,
        decrypt_record,
        get_salted_hash,
        hash_object_record_keys,
        normalize_key,
    )
    from incountry.incountry_crypto import InCrypto
    from incountry.secret_key_accessor import SecretKeyAccessor
except ImportError as e:
    sys.exit(f"check_crypto.py: the official InCountry Python SDK is not importable: {e}")


def make_crypto(secrets):
    """An InCrypto for the secrets an accessor would return (None: no encryption)."""
    if secrets is None:
        return InCrypto(None)
    return InCrypto(SecretKeyAccessor(lambda: secrets))


def describe(error):
    """The exception and the chain of its causes, on one line."""
    parts = []
    while error is not None:
        parts.append(f"{type(error).__name__}: {error}")
        error = error.__cause__ or error.__context__
    return " <- ".join(parts)


def run_case(case, check):
    """Runs check(case) -> (got, mismatch or None) and wraps it in a report entry."""
    entry = {"id": case.get("id")}
    try:
        got, mismatch = check(case)
    except Exception as e:  # the SDK raising is a finding, not a crash
        entry.update(ok=False, error=describe(e), traceback=traceback.format_exc())
        return entry
    entry.update(ok=mismatch is None, got=got)
    if mismatch is not None:
        entry["mismatch"] = mismatch
    return entry


def check_cipher(case):
    plaintext = make_crypto(case["secrets"]).decrypt(case["ciphertext"], case["version"])
    mismatch = None if plaintext == case["plaintext"] else "decrypted plaintext differs"
    return plaintext, mismatch


def check_record(case):
    crypto = make_crypto(case["secrets"])
    record, wire = case["record"], case["wire"]

    decrypted = decrypt_record(crypto, wire)

    # The envelope exactly as the SDK's encrypt_record would serialise it.
    meta = {k: record[k] for k in KEYS_TO_HASH if record.get(k) is not None}
    sdk_envelope = json.dumps({"meta": meta, "payload": record.get("body")})
    body_plaintext = crypto.decrypt(wire["body"], wire["version"])

    # The key values as the SDK's encrypt_record would send them.
    indexed = hash_object_record_keys(
        {k: record[k] for k in KEYS_TO_HASH if record.get(k) is not None},
        case["env_id"],
        normalize_keys=case["normalize_keys"],
        hash_search_keys=case["hash_search_keys"],
    )

    got = {
        "decrypted": decrypted,
        "body_plaintext": body_plaintext,
        "sdk_envelope": sdk_envelope,
        "indexed": indexed,
    }
    problems = []
    if decrypted != case["expected"]:
        problems.append("decrypt_record result differs from the original record")
    if body_plaintext != sdk_envelope:
        problems.append("body envelope is not what the SDK's encrypt_record serialises")
    wire_keys = {k: wire.get(k) for k in indexed}
    if wire_keys != indexed:
        problems.append("key values on the wire differ from the SDK's hash_object_record_keys")
    return got, "; ".join(problems) or None


def check_hash(case):
    value = get_salted_hash(normalize_key(case["value"], case["normalize"]), case["env_id"])
    return value, None if value == case["hash"] else "hash differs"


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: check_crypto.py CASES.json")
    try:
        with open(sys.argv[1], encoding="utf-8") as f:
            cases = json.load(f)
        lists = {name: cases[name] for name in ("ciphers", "records", "hashes")}
    except (OSError, ValueError, KeyError, TypeError) as e:
        sys.exit(f"check_crypto.py: cannot read cases from {sys.argv[1]}: {describe(e)}")

    checks = {"ciphers": check_cipher, "records": check_record, "hashes": check_hash}
    report = {"sdk_version": SDK_VERSION}
    for name, check in checks.items():
        report[name] = [run_case(case, check) for case in lists[name]]
    report["checked"] = {name: len(report[name]) for name in checks}
    report["failed"] = sum(not entry["ok"] for name in checks for entry in report[name])

    json.dump(report, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
