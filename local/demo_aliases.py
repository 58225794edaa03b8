"""The demo's chapter on published versions behind aliases (issue 22): an alias serving an older version
is scanned as its own target, by its qualified ARN (docs/DESIGN.md section 16)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from local import runtime
from local.demo_common import SAMPLE_FUNCTION, note, print_findings, sample, section
from local.emulator import store_function_code

if TYPE_CHECKING:
    from local.demo import Story

# A team deploying with versions: its alias `live` serves a version older than $LATEST.
ALIAS_FUNCTION = "checkout-api"
# $LATEST's fix: requests upgraded past the advisory's fixed version (2.20.0).
FIXED_REQUIREMENTS = "requests==2.32.3\n"


def alias_on_old_version(story: Story) -> None:
    """live -> version 1 (vulnerable) while $LATEST is fixed: the CreateAlias event scans version 1."""
    section("14. an alias serves an older version: live -> version 1 (vulnerable), $LATEST fixed")
    files, lambda_client = sample(SAMPLE_FUNCTION), story.client("lambda")
    arn = story.create(ALIAS_FUNCTION, "app.handler", files)
    version = lambda_client.publish_version(FunctionName=ALIAS_FUNCTION)["Version"]
    lambda_client.create_alias(FunctionName=ALIAS_FUNCTION, Name="live", FunctionVersion=version)
    fixed = runtime.zip_bytes({**files, "requirements.txt": FIXED_REQUIREMENTS})
    lambda_client.update_function_code(FunctionName=ALIAS_FUNCTION, ZipFile=fixed)
    vulnerable = runtime.zip_bytes(files)
    store_function_code(lambda_client, story.client("s3"), f"{ALIAS_FUNCTION}:{version}", vulnerable)
    print(
        f"published {ALIAS_FUNCTION} version {version} (requests==2.19.1), alias live -> {version}; then fixed $LATEST"
    )
    note("moto gives every version the same Code.Location: the package stored there is version 1's")
    result = story.change("CreateAlias20150331", arn, {"name": "live", "functionVersion": version})
    qualified = f"{arn}:{version}"
    views = story.stack.findings(qualified)
    print(f"Security Hub findings on {qualified} (the version's own resource id):")
    print_findings(views)
    ok = result.get("outcome") == "alias" and any(
        v["cve"] == "CVE-2018-18074" and v["state"] == "ACTIVE" for v in views
    )
    story.check("alias_target_scanned", ok, "live's older version scanned: its requests CVE is ACTIVE", result=result)
