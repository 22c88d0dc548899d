"""Fuzzes a running incountry server from its own OpenAPI description with schemathesis.

Usage: schemathesis_run.py --url URL (--token TOKEN | --client ID:SECRET) --env-id ENV
                           [--max-examples N] [--max-time SECONDS] [--seed N] [--report-dir DIR]

Run it with a python that has `schemathesis` installed (`pip install 'schemathesis>=4,<5'`). It
reads URL/openapi.json and runs `schemathesis run` with the `not_a_server_error` check over every
operation, sending `Authorization: Bearer TOKEN` and `x-env-id: ENV` with each request. With
`--client`, the token is first obtained from URL/oauth2/token (client credentials, HTTP Basic,
audience URL). The number of examples per operation and the total time are bounded.

Exit code: 0 when no request got a 5xx (or any other failed check), 1 when one did, 2 when the
run could not start (no schemathesis, server unreachable, no token).
"""

import argparse
import base64
import json
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request


def fetch_token(url, client, env_id):
    """A bearer token for ENV from the server's client-credentials endpoint."""
    basic = base64.b64encode(client.encode()).decode()
    form = urllib.parse.urlencode(
        {"grant_type": "client_credentials", "scope": env_id, "audience": url}
    ).encode()
    request = urllib.request.Request(
        f"{url}/oauth2/token",
        data=form,
        headers={
            "Authorization": f"Basic {basic}",
            "Content-Type": "application/x-www-form-urlencoded",
        },
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.load(response)["access_token"]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True, help="the server, e.g. http://127.0.0.1:8080")
    who = parser.add_mutually_exclusive_group(required=True)
    who.add_argument("--token", help="a bearer token for --env-id and audience --url")
    who.add_argument("--client", help="ID:SECRET of a registered client, to obtain a token")
    parser.add_argument("--env-id", required=True)
    parser.add_argument("--max-examples", type=int, default=50)
    parser.add_argument("--max-time", type=int, default=600, help="seconds for the whole run")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--report-dir", default=None, help="write a JUnit report here")
    args = parser.parse_args()
    url = args.url.rstrip("/")

    try:
        import schemathesis  # noqa: F401 - only checks that it is installed
    except ImportError as error:
        print(f"schemathesis is not installed in this python: {error}", file=sys.stderr)
        return 2
    token = args.token
    if token is None:
        try:
            token = fetch_token(url, args.client, args.env_id)
        except (urllib.error.URLError, KeyError, ValueError) as error:
            print(f"cannot obtain a token from {url}/oauth2/token: {error}", file=sys.stderr)
            return 2

    command = [
        sys.executable,
        "-m",
        "schemathesis.cli",
        "run",
        f"{url}/openapi.json",
        "--checks",
        "not_a_server_error",
        "--max-examples",
        str(args.max_examples),
        "--max-time",
        str(args.max_time),
        "--request-timeout",
        "30",
        "--wait-for-schema",
        "30",
        "--header",
        f"Authorization: Bearer {token}",
        "--header",
        f"x-env-id: {args.env_id}",
        # Our own phases only: no stateful links are declared.
        "--phases",
        "examples,coverage,fuzzing",
        "--suppress-health-check",
        "all",
        "--no-color",
    ]
    if args.seed is not None:
        command += ["--seed", str(args.seed)]
    if args.report_dir is not None:
        command += ["--report", "junit", "--report-dir", args.report_dir]
    shown = [part if not part.startswith("Authorization:") else "Authorization: Bearer ***"
             for part in command]
    print("running:", " ".join(shown), file=sys.stderr, flush=True)
    result = subprocess.run(command, check=False)
    # schemathesis exits 1 on failed checks; anything else non-zero means it could not run.
    if result.returncode == 0:
        return 0
    if result.returncode == 1:
        print("schemathesis found requests the server failed (see above)", file=sys.stderr)
        return 1
    return 2


if __name__ == "__main__":
    sys.exit(main())
