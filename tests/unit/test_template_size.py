"""CloudFormation's template size limits against the committed templates and the deploy commands.

moto accepts a template of any size inline; AWS does not, so the limits are checked here.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TEMPLATES = sorted((ROOT / "cloudformation").glob("*.yaml"))
# AWS CloudFormation User Guide, "AWS CloudFormation quotas": a template body passed in a request
# (TemplateBody) is at most 51,200 bytes; one read from an S3 object (TemplateURL) at most 1 MB.
TEMPLATE_BODY_LIMIT = 51_200
TEMPLATE_URL_LIMIT = 1_048_576
MAKEFILE = (ROOT / "Makefile").read_text()
MULTI_ACCOUNT = (ROOT / "mk" / "multi-account.mk").read_text()
DEPLOY_STEPS = (ROOT / "mk" / "deploy-steps.mk").read_text()
DEPLOY_STACK_CALL = re.compile(r"\$\(call deploy_stack,(cloudformation/[\w.-]+\.yaml),\$\(\w+\),\$\$\w+(,\$\$\w+)?\)")


def oversized(path: str) -> bool:
    return (ROOT / path).stat().st_size > TEMPLATE_BODY_LIMIT


@pytest.mark.parametrize("template", TEMPLATES, ids=lambda p: p.name)
def test_template_fits_cloudformation_s3_limit(template: Path) -> None:
    assert template.stat().st_size <= TEMPLATE_URL_LIMIT


def test_make_deploy_sends_template_through_s3() -> None:
    # make deploy uses the deploy_stack step with the artifacts bucket; the step passes it as --s3-bucket.
    assert "$(call deploy_stack,$(TEMPLATE),$(STACK_NAME),$$params,$$bucket)" in MAKEFILE
    (command,) = re.findall(r"cloudformation deploy --template-file \"\$\(1\)\"[^\n]*", DEPLOY_STEPS)
    assert '$(if $(4),--s3-bucket "$(4)"' in command


def test_multi_account_deploys_of_large_templates_pass_a_bucket() -> None:
    calls = DEPLOY_STACK_CALL.findall(MULTI_ACCOUNT)
    assert calls, "no deploy_stack call found"
    for template, bucket in calls:
        assert bucket or not oversized(template), f"{template} is over {TEMPLATE_BODY_LIMIT} bytes: pass a bucket"


def test_stackset_template_goes_by_url() -> None:
    assert "--template-body file://cloudformation/stackset.yaml" not in MULTI_ACCOUNT
    assert MULTI_ACCOUNT.count('--template-url "$$template_url"') == 2
