"""The SDK workloads of `incountry-bench seed` / `incountry-bench sdk`, through the official
InCountry Python SDK 4.1.0: same flags, same semantics, the same JSON shape on stdout.

Usage:
  official_sdk_bench.py seed --endpoint URL --env-id ID --client-id ID --client-secret S \
      --password PW [--country CC] [--find-tag TAG] [--find-count 100] \
      [--migrate-country CC[,CC]] [--migrate-count 1000]
  official_sdk_bench.py sdk  --endpoint URL --env-id ID --client-id ID --client-secret S \
      --password PW [--country CC] --own-tag TAG [--foreign-tag TAG] [--migrate-country CC] \
      [--run-id ID] [--writes 100] [--repeats 3] [--readers 8] [--reads-per-reader 25]

Every record is encrypted with `--password` (secret version 1); migration re-encrypts with
`<password>-v2` (version 2). Concurrent readers are threads, each with its own Storage.
Exit code 0 on success, 1 when a workload failed (the error on stderr).
"""

import argparse
import json
import statistics
import sys
import threading
import time

PAGE = 100
MAX_MIGRATE_ROUNDS = 200


def connection_flags(parser):
    parser.add_argument("--endpoint", required=True)
    parser.add_argument("--auth-endpoint")
    parser.add_argument("--env-id", required=True)
    parser.add_argument("--client-id", required=True)
    parser.add_argument("--client-secret", required=True)
    parser.add_argument("--country", default="us")
    parser.add_argument("--password", required=True)


def secrets_v1(password):
    return {"currentVersion": 1, "secrets": [{"secret": password, "version": 1}]}


def secrets_v2(password):
    return {
        "currentVersion": 2,
        "secrets": [
            {"secret": password, "version": 1},
            {"secret": f"{password}-v2", "version": 2},
        ],
    }


def storage(args, secrets):
    from incountry import SecretKeyAccessor, Storage
    from incountry.exceptions import StorageServerException

    auth = args.auth_endpoint or args.endpoint.rstrip("/") + "/oauth2/token"
    result = Storage(
        environment_id=args.env_id,
        client_id=args.client_id,
        client_secret=args.client_secret,
        endpoint=args.endpoint,
        secret_key_accessor=SecretKeyAccessor(lambda: secrets),
        options={"auth_endpoints": {"default": auth}},
    )
    # Fetch the token (a read of a missing record) so that no workload pays for it.
    try:
        result.read(args.country, "bench-warm-up-missing")
    except StorageServerException:
        pass
    return result


def body(i):
    notes = "x" * 80
    return (
        f'{{"name":"Jane Doe {i}","email":"jane.doe.{i}@example.com",'
        f'"address":"1 Example Street, Springfield","notes":"{notes}"}}'
    )


def records(prefix, key1, indexes):
    return [{"record_key": f"{prefix}-{i}", "body": body(i), "key1": key1} for i in indexes]


def batch_write_all(store, country, items):
    for start in range(0, len(items), PAGE):
        store.batch_write(country, records=items[start:start + PAGE])


def seed(args):
    store = storage(args, secrets_v1(args.password))
    started = time.perf_counter()
    if args.find_tag:
        batch_write_all(store, args.country, records(f"find-{args.find_tag}", args.find_tag, range(args.find_count)))
    for country in args.migrate_country or []:
        key1 = f"migrate-{country}"
        batch_write_all(store, country, records(key1, key1, range(args.migrate_count)))
    print(json.dumps({"sdk": "incountry-python", "seeded_s": time.perf_counter() - started}))


def find_tagged(args, tag, repeats):
    """Finds the records tagged `tag` `repeats` times, each time with a fresh Storage."""
    samples = []
    country = args.country
    for _ in range(repeats):
        store = storage(args, secrets_v1(args.password))
        started = time.perf_counter()
        found = store.find(country, limit=PAGE, key1=tag)
        samples.append(time.perf_counter() - started)
        errors = found.get("errors") or []
        if len(found["records"]) != PAGE or errors:
            raise RuntimeError(
                f"find of key1 {tag!r}: {len(found['records'])} records decrypted, {len(errors)} errors (expected {PAGE})"
            )
    return samples


def run(args):
    """Every workload starts with a fresh Storage whose token was fetched beforehand (as in
    `incountry-bench sdk`, where it also means an empty derived-key cache)."""
    from incountry.__version__ import __version__ as sdk_version

    country = args.country
    store = storage(args, secrets_v1(args.password))
    run_id = args.run_id
    total = time.perf_counter()

    written = records(f"{run_id}-single", f"{run_id}-single", range(args.writes))
    keys = [r["record_key"] for r in written]
    started = time.perf_counter()
    for record in written:
        store.write(country, **record)
    single_write = args.writes / (time.perf_counter() - started)
    store = storage(args, secrets_v1(args.password))
    started = time.perf_counter()
    for key in keys:
        store.read(country, key)
    single_read = len(keys) / (time.perf_counter() - started)

    batch_samples = []
    for repeat in range(args.repeats):
        batch = records(f"{run_id}-batch{repeat}", f"{run_id}-batch", range(PAGE))
        store = storage(args, secrets_v1(args.password))
        started = time.perf_counter()
        store.batch_write(country, records=batch)
        batch_samples.append(time.perf_counter() - started)

    find_own = find_tagged(args, args.own_tag, args.repeats)
    find_foreign = find_tagged(args, args.foreign_tag, args.repeats) if args.foreign_tag else None

    # Concurrent readers: threads, each with its own Storage (built before the clock starts).
    readers = [storage(args, secrets_v1(args.password)) for _ in range(args.readers)]
    failures = []

    def read_loop(reader, own):
        try:
            for n in range(args.reads_per_reader):
                own.read(country, keys[(reader * args.reads_per_reader + n) % len(keys)])
        except Exception as error:  # noqa: BLE001 - reported after the join
            failures.append(error)

    threads = [threading.Thread(target=read_loop, args=(i, s)) for i, s in enumerate(readers)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=600)
    if failures or any(t.is_alive() for t in threads):
        raise RuntimeError(f"concurrent readers failed: {failures[:1]}")
    concurrent_reads = args.readers * args.reads_per_reader / (time.perf_counter() - started)

    migrate_s = None
    migrated = None
    if args.migrate_country:
        v2 = storage(args, secrets_v2(args.password))
        started = time.perf_counter()
        migrated = 0
        rounds = 0
        while True:
            rounds += 1
            result = v2.migrate(args.migrate_country, limit=PAGE)
            migrated += result["migrated"]
            if result.get("errors"):
                raise RuntimeError(f"migrate: {len(result['errors'])} records could not be decrypted")
            if result["total_left"] == 0:
                break
            if rounds >= MAX_MIGRATE_ROUNDS or result["migrated"] == 0:
                raise RuntimeError(f"migrate: {result['total_left']} records left after {rounds} rounds")
        migrate_s = time.perf_counter() - started

    print(json.dumps({
        "sdk": "incountry-python",
        "sdk_version": sdk_version,
        "single_write_ops_per_s": single_write,
        "single_read_ops_per_s": single_read,
        "batch_write_100_s": statistics.median(batch_samples),
        "find_own_100_s": statistics.median(find_own),
        "find_foreign_100_s": statistics.median(find_foreign) if find_foreign else None,
        "migrate_s": migrate_s,
        "migrated_records": migrated,
        "concurrent_read_ops_per_s": concurrent_reads,
        "readers": args.readers,
        "reads_per_reader": args.reads_per_reader,
        "writes": args.writes,
        "repeats": args.repeats,
        "total_s": time.perf_counter() - total,
        "samples": {
            "batch_write_100_s": batch_samples,
            "find_own_100_s": find_own,
            "find_foreign_100_s": find_foreign,
        },
    }))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    seed_parser = commands.add_parser("seed")
    connection_flags(seed_parser)
    seed_parser.add_argument("--find-tag")
    seed_parser.add_argument("--find-count", type=int, default=100)
    seed_parser.add_argument("--migrate-country", type=lambda text: [c for c in text.split(",") if c])
    seed_parser.add_argument("--migrate-count", type=int, default=1000)
    sdk_parser = commands.add_parser("sdk")
    connection_flags(sdk_parser)
    sdk_parser.add_argument("--run-id", default="py")
    sdk_parser.add_argument("--writes", type=int, default=100)
    sdk_parser.add_argument("--repeats", type=int, default=3)
    sdk_parser.add_argument("--own-tag", required=True)
    sdk_parser.add_argument("--foreign-tag")
    sdk_parser.add_argument("--migrate-country")
    sdk_parser.add_argument("--readers", type=int, default=8)
    sdk_parser.add_argument("--reads-per-reader", type=int, default=25)
    args = parser.parse_args()
    try:
        seed(args) if args.command == "seed" else run(args)
    except Exception as error:  # noqa: BLE001 - one line on stderr, exit 1
        print(f"official_sdk_bench: {type(error).__name__}: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
