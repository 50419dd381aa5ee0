"""Offline tools for electronic certificates, no service needed.

    python -m services.certificates.cli verify cert.json --trust-list trust.json [--status-list list.json]
    python -m services.certificates.cli hide cert.json --claim idNumber > shared.json

`verify` exits 0 when the credential verifies, 1 when it does not; the trust list is what a certificates
service serves at GET /trust-list, the status list what it serves at GET /status-lists/<province>/<n>.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from shared.kernel import credentials
from shared.kernel.credentials import CredentialError, TrustList

MARKS = {True: "pass", False: "FAIL", None: "not checked"}


def _read(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m services.certificates.cli",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True)
    verify = commands.add_parser("verify", help="verify a credential file against a trust list")
    verify.add_argument("credential", type=Path)
    verify.add_argument("--trust-list", type=Path, required=True)
    verify.add_argument("--status-list", type=Path, help="a downloaded status list, to check revocation offline")
    hide = commands.add_parser("hide", help="withhold claims (holderName, idType, idNumber); it still verifies")
    hide.add_argument("credential", type=Path)
    hide.add_argument("--claim", action="append", required=True)
    args = parser.parse_args(argv)

    try:
        credential = _read(args.credential)
        if args.command == "hide":
            json.dump(credentials.hide_claims(credential, args.claim), sys.stdout, ensure_ascii=False, indent=2)
            print()
            return 0
        trust = TrustList.model_validate(_read(args.trust_list))
        status = credentials.status_from_list(_read(args.status_list), trust) if args.status_list else None
    except (OSError, ValueError, CredentialError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    result = credentials.verify(credential, trust=trust, status=status)
    print(f"certificate {result.certificate_number}: {'VERIFIED' if result.verified else 'NOT VERIFIED'}")
    for check in result.checks:
        print(f"  {check.name:<13} {MARKS[check.passed]:<12} {check.detail}")
    return 0 if result.verified else 1


if __name__ == "__main__":
    sys.exit(main())
