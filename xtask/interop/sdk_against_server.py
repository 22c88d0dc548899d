"""Runs every Storage method of the official InCountry Python SDK 4.1.0 against a server.

Usage: sdk_against_server.py --endpoint URL --client-id ID --client-secret SECRET --env-id ENV

The server must serve `POST /oauth2/token` and the records API at ENDPOINT. Each check is
reported on stdout as one JSON document {"sdk_version", "checks": [{"name", "ok", "detail"}]};
the exit code is 0 when every check passed, 1 when one failed, 2 when the run could not start.
"""

import argparse
import datetime
import io
import json
import sys
import traceback
import uuid


def status_of(error):
    """The HTTP status of an SDK server error (its wrappers keep it only on the cause)."""
    while error is not None:
        if getattr(error, "status_code", None) is not None:
            return error.status_code
        error = error.__cause__
    return None


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--endpoint", required=True)
    parser.add_argument("--client-id", required=True)
    parser.add_argument("--client-secret", required=True)
    parser.add_argument("--env-id", required=True)
    args = parser.parse_args()
    try:
        from incountry import Storage, SecretKeyAccessor
        from incountry.__version__ import __version__ as sdk_version
        from incountry.exceptions import StorageAuthenticationException, StorageServerException
    except Exception as error:  # noqa: BLE001 - report why the run cannot start
        print(f"the official SDK is not importable: {error}", file=sys.stderr)
        return 2

    checks = []

    def check(name, ok, detail=""):
        checks.append({"name": name, "ok": bool(ok), "detail": "" if ok else str(detail)[:2000]})

    def attempt(name, function):
        """Runs one scenario step; an exception fails the step and the run goes on."""
        try:
            function()
        except Exception:  # noqa: BLE001 - every failure is reported, none stops the run
            check(name, False, traceback.format_exc())

    run = uuid.uuid4().hex[:10]
    secrets_v1 = {"currentVersion": 1, "secrets": [{"secret": f"password one {run}", "version": 1}]}
    secrets_v2 = {
        "currentVersion": 2,
        "secrets": [
            {"secret": f"password one {run}", "version": 1},
            {"secret": "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=", "version": 2, "isKey": True},
        ],
    }
    token_url = args.endpoint.rstrip("/") + "/oauth2/token"

    def storage(secrets, client_secret=args.client_secret, **options):
        return Storage(
            environment_id=args.env_id,
            client_id=args.client_id,
            client_secret=client_secret,
            endpoint=args.endpoint,
            secret_key_accessor=SecretKeyAccessor(lambda: secrets),
            options={"auth_endpoints": {"default": token_url}, **options},
        )

    v1 = storage(secrets_v1)
    country = "us"
    expires = datetime.datetime(2099, 1, 2, 3, 4, 5, 123456, tzinfo=datetime.timezone.utc)

    def health():
        check("health_check", v1.health_check(country)["result"] is True)

    def write_and_read():
        written = v1.write(
            country,
            record_key=f"rk-{run}",
            body='{"name": "Jane Doe"}',
            precommit_body="precommit",
            profile_key="profile",
            parent_key="parent",
            service_key1="svc",
            key1="alpha",
            key2="Grüße ✓",
            range_key1=42,
            range_key2=-7,
            expires_at=expires,
        )["record"]
        check("write returns the record", written["record_key"] == f"rk-{run}", written)
        record = v1.read(country, f"rk-{run}")["record"]
        expected = {
            "record_key": f"rk-{run}",
            "body": '{"name": "Jane Doe"}',
            "precommit_body": "precommit",
            "profile_key": "profile",
            "parent_key": "parent",
            "service_key1": "svc",
            "key1": "alpha",
            "key2": "Grüße ✓",
            "range_key1": 42,
            "range_key2": -7,
            "version": 1,
        }
        for field, value in expected.items():
            check(f"read {field}", record.get(field) == value, f"{record.get(field)!r} != {value!r}")
        check("read expires_at", record.get("expires_at") == expires, record.get("expires_at"))
        check("read created_at", isinstance(record.get("created_at"), datetime.datetime), record)

    batch = [
        {
            "record_key": f"b{i}-{run}",
            "body": f"body {i}",
            "key1": f"group-{run}",
            "key2": "even" if i % 2 == 0 else "odd",
            "key3": None if i < 3 else f"k3-{i}",
            "range_key1": i,
            "service_key1": f"svc-{run}",
        }
        for i in range(10)
    ]

    def batch_write():
        result = v1.batch_write(country, records=[{k: v for k, v in r.items() if v is not None} for r in batch])
        check("batch_write returns every record", len(result["records"]) == 10, result)

    def keys_of(found):
        return sorted(r["record_key"] for r in found["records"])

    def find_all_kinds():
        base = {"service_key1": f"svc-{run}"}
        every = sorted(r["record_key"] for r in batch)
        cases = [
            ("equality", {"key2": "even"}, [r for r in batch if r["key2"] == "even"]),
            ("any of", {"range_key1": [1, 2, 11]}, [batch[1], batch[2]]),
            ("not", {"key2": {"$not": "even"}}, [r for r in batch if r["key2"] == "odd"]),
            ("not any of", {"range_key1": {"$not": [0, 1, 2]}}, batch[3:]),
            ("gt", {"range_key1": {"$gt": 7}}, batch[8:]),
            ("gte lt", {"range_key1": {"$gte": 3, "$lt": 6}}, batch[3:6]),
            ("gt lte", {"range_key1": {"$gt": 3, "$lte": 6}}, batch[4:7]),
            ("lte", {"range_key1": {"$lte": 2}}, batch[:3]),
            ("null", {"key3": None}, batch[:3]),
            ("version", {"version": 1}, batch),
            ("version not", {"version": {"$not": 1}}, []),
            ("record keys", {"record_key": [batch[4]["record_key"], batch[5]["record_key"]]}, batch[4:6]),
            ("created_at", {"created_at": {"$gt": datetime.datetime(2000, 1, 1, tzinfo=datetime.timezone.utc)}}, batch),
        ]
        for name, extra, expected in cases:
            found = v1.find(country, **base, **extra)
            want = sorted(r["record_key"] for r in expected)
            check(f"find {name}", keys_of(found) == want, f"{keys_of(found)} != {want}")
            check(f"find {name} total", found["meta"]["total"] == len(want), found["meta"])
        found = v1.find(country, **base)
        check("find every record", keys_of(found) == every, keys_of(found))
        desc = v1.find(country, **base, sort=[{"range_key1": "desc"}])
        order = [r["range_key1"] for r in desc["records"]]
        check("sort desc", order == list(range(9, -1, -1)), order)
        pages = []
        for offset in (0, 4, 8):
            page = v1.find(country, **base, limit=4, offset=offset, sort=[{"range_key1": "asc"}])
            check(f"page at {offset} meta", page["meta"]["limit"] == 4 and page["meta"]["offset"] == offset
                  and page["meta"]["total"] == 10 and page["meta"]["count"] == len(page["records"]), page["meta"])
            pages += [r["range_key1"] for r in page["records"]]
        check("paging visits every record once in order", pages == list(range(10)), pages)
        one = v1.find_one(country, **base, key2="odd", sort=[{"range_key1": "asc"}])
        check("find_one", one is not None and one["record"]["range_key1"] == 1, one)
        none = v1.find_one(country, key1=f"missing-{run}")
        check("find_one without a match", none is None, none)

    def search_keys():
        plain = storage(secrets_v1, hash_search_keys=False)
        plain.batch_write("gb", records=[
            {"record_key": f"s{i}-{run}", "key1": text, "key2": f"nh-{run}"}
            for i, text in enumerate(["apple pie", "banana split", "cherry tart"])
        ])
        found = plain.find("gb", search_keys="ana")
        check("search_keys substring", [r["key1"] for r in found["records"] if r.get("key2") == f"nh-{run}"] == ["banana split"],
              found["records"])
        found = plain.find("gb", key1="cherry tart", key2=f"nh-{run}")
        check("plain key equality", keys_of(found) == [f"s2-{run}"], keys_of(found))

    def delete():
        check("delete", v1.delete(country, f"b0-{run}") == {"success": True})
        try:
            v1.read(country, f"b0-{run}")
            check("read after delete is 404", False, "no error")
        except StorageServerException as error:
            check("read after delete is 404", status_of(error) == 404, error)

    def rotation():
        v2 = storage(secrets_v2)
        rounds = 0
        left = None
        while rounds < 20:
            rounds += 1
            result = v2.migrate(country, limit=3)
            left = result["total_left"]
            if left == 0:
                break
        check("migrate until nothing is left", left == 0, f"total_left {left} after {rounds} rounds")
        record = v2.read(country, f"b5-{run}")["record"]
        check("migrated record has the new version", record.get("version") == 2, record)
        check("migrated record still reads", record.get("body") == "body 5", record)

    def attachments():
        key = f"rk-{run}"
        data = bytes(range(256)) * 4096
        blob = io.BytesIO(data)
        blob.name = "blob.bin"
        meta = v1.add_attachment(country, key, blob)["attachment_meta"]
        check("add attachment", meta["filename"] == "blob.bin" and meta["size"] == len(data), meta)
        named = io.BytesIO("héllo wörld".encode())
        named.name = "résumé 😀 (v1).txt"
        other = v1.add_attachment(country, key, named, mime_type="text/plain")["attachment_meta"]
        check("add non-ASCII filename", other["filename"] == "résumé 😀 (v1).txt" and other["mime_type"] == "text/plain", other)
        file = v1.get_attachment_file(country, key, meta["file_id"])["attachment_data"]
        check("download bytes", file["file"].read() == data)
        check("download filename", file["filename"] == "blob.bin", file["filename"])
        again = v1.get_attachment_meta(country, key, other["file_id"])["attachment_meta"]
        check("get meta", again["file_id"] == other["file_id"] and again["size"] == len("héllo wörld".encode()), again)
        renamed = v1.update_attachment_meta(country, key, other["file_id"], filename="renamed ✓.txt")["attachment_meta"]
        check("update meta", renamed["filename"] == "renamed ✓.txt", renamed)
        replacement = io.BytesIO(b"replaced")
        replacement.name = "blob.bin"
        upserted = v1.add_attachment(country, key, replacement, upsert=True)["attachment_meta"]
        check("upsert replaces the same filename", upserted["size"] == 8, upserted)
        file = v1.get_attachment_file(country, key, upserted["file_id"])["attachment_data"]
        check("download after upsert", file["file"].read() == b"replaced")
        record = v1.read(country, key)["record"]
        check("record lists its attachments", len(record.get("attachments") or []) == 2, record.get("attachments"))
        check("delete attachment", v1.delete_attachment(country, key, other["file_id"]) == {"success": True})
        try:
            v1.get_attachment_meta(country, key, other["file_id"])
            check("meta after delete is 404", False, "no error")
        except StorageServerException as error:
            check("meta after delete is 404", status_of(error) == 404, error)

    def wrong_secret():
        bad = storage(secrets_v1, client_secret="not-the-secret")
        try:
            bad.read(country, f"rk-{run}")
            check("wrong client secret is refused", False, "no error")
        except StorageAuthenticationException:
            check("wrong client secret is refused", True)

    for name, step in [
        ("health", health),
        ("write and read", write_and_read),
        ("batch write", batch_write),
        ("find", find_all_kinds),
        ("search keys", search_keys),
        ("delete", delete),
        ("attachments", attachments),
        ("key rotation", rotation),
        ("authentication", wrong_secret),
    ]:
        attempt(name, step)

    print(json.dumps({"sdk_version": sdk_version, "checks": checks}, ensure_ascii=False))
    return 0 if checks and all(c["ok"] for c in checks) else 1


if __name__ == "__main__":
    sys.exit(main())
