"""What the scanner calls and moto does not emulate, added to moto for the tests and the demo.

Security Hub's BatchUpdateFindings (PATCH /findings/batchupdate): the only way to change an existing
finding's Workflow and Note (Security Hub API Reference, BatchImportFindings: "After a finding is created,
BatchImportFindings cannot be used to update ... Note ... Workflow"). The emulation sets both on moto's
stored findings and reports unknown ids as unprocessed, as the API does.

And one speed-up: moto's SNS makes a 2,048-bit RSA signing key for every subscription it delivers to
(about 80 ms each, most of some tests' time); one key for the process signs every message instead.

In process: `install()` before `mock_aws` starts. As a server: `python local/moto_extras.py -H 127.0.0.1
-p PORT` (moto.server's own arguments) installs it, then serves.
"""

from __future__ import annotations

import functools
import json
import sys
from datetime import UTC, datetime

from cryptography.hazmat.primitives.asymmetric import rsa
from moto.securityhub import urls as securityhub_urls
from moto.securityhub.models import securityhub_backends
from moto.securityhub.responses import SecurityHubResponse
from moto.sns.models import Subscription

BATCH_UPDATE_PATH = "{0}/findings/batchupdate$"


def batch_update_findings(self: SecurityHubResponse) -> str:
    """Set Workflow and Note on the identified findings of the caller's account and region."""
    body = json.loads(self.body or "{}")
    findings = {f.id: f for f in securityhub_backends[self.current_account][self.region].findings}
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    processed, unprocessed = [], []
    for identifier in body.get("FindingIdentifiers", []):
        finding = findings.get(identifier.get("Id"))
        if finding is None:
            unprocessed.append(
                {"FindingIdentifier": identifier, "ErrorCode": "FindingNotFound", "ErrorMessage": "no such finding"}
            )
            continue
        if "Workflow" in body:
            finding.data["Workflow"] = {"Status": body["Workflow"]["Status"]}
        if "Note" in body:
            finding.data["Note"] = {**body["Note"], "UpdatedAt": now}
        processed.append(identifier)
    return json.dumps({"ProcessedFindings": processed, "UnprocessedFindings": unprocessed})


@functools.cache
def _signing_key() -> rsa.RSAPrivateKey:
    """The one SNS signing key of the process, whichever subscription signs."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def install() -> None:
    """Add the operations above to moto (idempotent)."""
    SecurityHubResponse.batch_update_findings = batch_update_findings  # type: ignore[attr-defined]
    Subscription.private_key = lambda _self: _signing_key()  # type: ignore[method-assign]
    securityhub_urls.url_paths.setdefault(BATCH_UPDATE_PATH, SecurityHubResponse.dispatch)


if __name__ == "__main__":
    from moto.server import main

    install()
    main(sys.argv[1:])
