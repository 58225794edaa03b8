"""Whether a function is reachable by anyone, read from Lambda's own APIs in the function's account.

Rule (docs/findings.md, "function.exposure"; AWS Lambda Developer Guide, "Control access to Lambda function
URLs" and "Viewing resource-based IAM policies in Lambda"):

- **public** when either
  - the function has a URL with `AuthType: NONE` (GetFunctionUrlConfig): Lambda does not authenticate
    its requests; or
  - an `Allow` statement of its resource-based policy (GetPolicy) grants `lambda:InvokeFunction`,
    `lambda:InvokeFunctionUrl` (or a wildcard covering them) to any principal (`"*"`, `{"AWS": "*"}`,
    or every principal but some, `NotPrincipal`), or to an AWS service principal, which acts for any
    account, **without a source condition**: a condition on `aws:SourceArn`, `aws:SourceAccount`,
    `aws:SourceOwner`, `aws:SourceOrgID`, `aws:SourceOrgPaths`, `aws:PrincipalOrgID`,
    `aws:PrincipalOrgPaths`, `aws:PrincipalAccount`, `aws:PrincipalArn`, `aws:SourceVpc`,
    `aws:SourceVpce`, `lambda:EventSourceToken`, or `lambda:FunctionUrlAuthType` equal to `AWS_IAM`
    (signed requests only). A condition counts only with a positive operator (no `Not`, no
    `IfExists`, not `Null`) and a value other than `*`; `lambda:FunctionUrlAuthType = NONE` is the
    public URL's own grant and restricts nothing.
- **private** when both reads succeeded and neither says public.
- **unknown** when a read was denied or failed (and the other did not already say public): never a
  failed scan. Throttling is transient (TransientError), as for GetFunction.

Deny statements are not evaluated (a deny may narrow a public grant: the result errs towards public),
and only the unqualified function is read (an alias's own URL or policy is not).
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from botocore.exceptions import ClientError

from qualys_lambda.aws import error_code, is_transient
from qualys_lambda.errors import TransientError

logger = logging.getLogger(__name__)

ExposureStatus = Literal["public", "private", "unknown"]
# Lambda's error when a function has no URL or no policy (AWS Lambda API Reference, GetFunctionUrlConfig
# and GetPolicy: ResourceNotFoundException).
NOT_FOUND = "ResourceNotFoundException"
INVOKE_ACTIONS = ("lambda:InvokeFunction", "lambda:InvokeFunctionUrl")
SOURCE_KEYS = frozenset(
    key.lower()
    for key in (
        "aws:SourceArn",
        "aws:SourceAccount",
        "aws:SourceOwner",
        "aws:SourceOrgID",
        "aws:SourceOrgPaths",
        "aws:PrincipalOrgID",
        "aws:PrincipalOrgPaths",
        "aws:PrincipalAccount",
        "aws:PrincipalArn",
        "aws:SourceVpc",
        "aws:SourceVpce",
        "lambda:EventSourceToken",
    )
)
URL_AUTH_TYPE_KEY = "lambda:functionurlauthtype"
# The only value of lambda:FunctionUrlAuthType that restricts: requests signed with IAM credentials.
URL_AUTH_IAM = "AWS_IAM"


@dataclass(frozen=True)
class Exposure:
    """public, private or unknown, with the reasons that decided it."""

    status: ExposureStatus
    reasons: tuple[str, ...] = ()

    def as_json(self) -> dict[str, Any]:
        """`function.exposure` of the summary (schema v3)."""
        return {"status": self.status, "reasons": list(self.reasons)}


def _listed(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list) else [value]


def _wildcard(pattern: str, value: str) -> bool:
    # IAM action wildcards (* and ?), case-insensitive like IAM's action matching.
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, value, re.IGNORECASE) is not None


def _grants_invoke(statement: Mapping[str, Any]) -> bool:
    if "NotAction" in statement:
        excluded = [str(a) for a in _listed(statement["NotAction"])]
        return any(not any(_wildcard(p, action) for p in excluded) for action in INVOKE_ACTIONS)
    patterns = [str(a) for a in _listed(statement.get("Action", []))]
    return any(_wildcard(p, action) for p in patterns for action in INVOKE_ACTIONS)


def _principal(statement: Mapping[str, Any]) -> str | None:
    """Who the statement admits when it is anyone: "any principal", "any account through <service>"."""
    if "NotPrincipal" in statement:
        return "any principal but those named"
    principal = statement.get("Principal")
    if principal == "*":
        return "any principal"
    if not isinstance(principal, Mapping):
        return None
    if "*" in [str(p) for p in _listed(principal.get("AWS", []))]:
        return "any principal"
    services = [str(s) for s in _listed(principal.get("Service", []))]
    if services:
        # A service principal invokes on behalf of whichever account's resource triggers it.
        return "any account through " + ", ".join(sorted(services))
    return None


def _restricting(operator: str, key: str, values: Iterable[Any]) -> bool:
    base = operator.split(":")[-1]
    if "Not" in base or base.endswith("IfExists") or base == "Null":
        return False
    texts = [str(v) for v in values]
    if key.lower() == URL_AUTH_TYPE_KEY:
        return texts == [URL_AUTH_IAM]
    return key.lower() in SOURCE_KEYS and any(t.strip("*") for t in texts)


def _has_source_condition(statement: Mapping[str, Any]) -> bool:
    condition = statement.get("Condition")
    if not isinstance(condition, Mapping):
        return False
    return any(
        _restricting(str(operator), str(key), _listed(values))
        for operator, block in condition.items()
        if isinstance(block, Mapping)
        for key, values in block.items()
    )


def public_statements(policy: Mapping[str, Any]) -> list[str]:
    """One reason per Allow statement of a resource-based policy that lets anyone invoke the function."""
    reasons = []
    for index, statement in enumerate(_listed(policy.get("Statement", []))):
        if not isinstance(statement, Mapping) or statement.get("Effect") != "Allow" or not _grants_invoke(statement):
            continue
        who = _principal(statement)
        if who and not _has_source_condition(statement):
            sid = statement.get("Sid") or f"#{index}"
            reasons.append(f"resource policy statement {sid} lets {who} invoke it without a source condition")
    return reasons


def _read(call: str, read: Any) -> tuple[dict[str, Any] | None, str | None]:
    """(response, None), (None, None) when there is nothing to read, or (None, why it is unknown)."""
    try:
        return read(), None
    except ClientError as exc:
        code = error_code(exc)
        if code == NOT_FOUND:
            return None, None
        if is_transient(exc):
            raise TransientError(f"{call} was throttled") from exc
        return None, f"{call} failed: {code or type(exc).__name__}"


def read_exposure(lambda_client: Any, function_arn: str) -> Exposure:
    """The function's exposure from its URL configuration and its resource-based policy."""
    public: list[str] = []
    unknown: list[str] = []
    url, why = _read("GetFunctionUrlConfig", lambda: lambda_client.get_function_url_config(FunctionName=function_arn))
    if why:
        unknown.append(why)
    elif url and url.get("AuthType") == "NONE":
        public.append("function URL with AuthType NONE")
    response, why = _read("GetPolicy", lambda: lambda_client.get_policy(FunctionName=function_arn))
    if why:
        unknown.append(why)
    elif response:
        try:
            policy = json.loads(response.get("Policy") or "{}")
        except json.JSONDecodeError:
            policy = None
        if isinstance(policy, dict):
            public += public_statements(policy)
        else:
            unknown.append("GetPolicy returned a policy that is not JSON")
    if public:
        return Exposure("public", tuple(public))
    if unknown:
        logger.warning("exposure unknown", extra={"function_arn": function_arn, "reasons": unknown})
        return Exposure("unknown", tuple(unknown))
    return Exposure("private")
