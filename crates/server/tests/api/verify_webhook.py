#!/usr/bin/env python3
"""An independent Standard Webhooks check, with the PyPI `standardwebhooks` package.

    verify_webhook.py --secret whsec_... --header "webhook-id: ..." \
        --header "webhook-timestamp: ..." --header "webhook-signature: ..." < body

Exits 0 and prints `valid` when the signature checks out (timestamp within the library's
5-minute tolerance of the wall clock), 1 when it does not, 2 on bad usage, and 3 when the
`standardwebhooks` module is not installed (`--check` only tests for it).
"""

import argparse
import sys

try:
    from standardwebhooks import Webhook, WebhookVerificationError
except ImportError as e:  # pragma: no cover - depends on the machine
    print(f"the python standardwebhooks module is missing: {e}", file=sys.stderr)
    sys.exit(3)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="only check the module imports")
    parser.add_argument("--secret")
    parser.add_argument("--header", action="append", default=[], help="`name: value`, repeated")
    args = parser.parse_args()
    if args.check:
        return 0
    if not args.secret:
        parser.error("--secret is required")
    headers = {}
    for raw in args.header:
        name, sep, value = raw.partition(":")
        if not sep:
            parser.error(f"--header takes `name: value`, got {raw!r}")
        headers[name.strip().lower()] = value.strip()
    body = sys.stdin.buffer.read()
    try:
        Webhook(args.secret).verify(body, headers)
    except (WebhookVerificationError, ValueError) as e:
        print(f"invalid: {e}", file=sys.stderr)
        return 1
    print("valid")
    return 0


if __name__ == "__main__":
    sys.exit(main())
