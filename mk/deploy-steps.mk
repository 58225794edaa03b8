# The steps every deploy target is made of (deploy, deploy-hub, deploy-spoke, deploy-stackset), as
# recipe fragments: $(call NAME,ARGS) in a recipe. Included by the main Makefile, which defines AWS,
# AWSR, AWS_REGION, STACK_NAME, QUALYS_POD, LAYER_ZIP, CODE_ZIP, LAYER_NAME and PYTHON. What only an
# emulator needs is in mk/emulator.mk (the emulator_* calls, empty on AWS).
#
# Every S3 call names the bucket owner it expects (--expected-bucket-owner, the account the
# credentials belong to): the artifacts bucket's name is predictable, and a bucket someone else
# created first must never receive the scanner's code or templates (Amazon S3 User Guide, "Verifying
# bucket ownership with bucket owner condition"). `aws s3 cp` has no such option: uploads are
# `s3api put-object`. `aws cloudformation deploy --s3-bucket` has none either; its bucket is the one
# ensure_artifacts_bucket has just checked with the owner condition.

# $(check_parameters): the user's PARAMETERS are Key=Value pairs (local/stack_parameters.py), checked
# before anything touches AWS.
check_parameters = $(PYTHON) -m local.stack_parameters --parameters-env PARAMETERS >/dev/null

# $(call caller_account,REGION): sets $$account (the credentials' account) and $$partition (aws,
# aws-cn, aws-us-gov, ...) and $$url_suffix (amazonaws.com, amazonaws.com.cn, ...) from the caller's ARN.
define caller_account
read -r account caller_arn < <($(AWS) --region $(1) sts get-caller-identity --query '[Account,Arn]' --output text)
read -r partition url_suffix < <($(PYTHON) local/build.py partition "$$caller_arn")
endef

# $(call ensure_artifacts_bucket,REGION): sets $$bucket to <stack>-artifacts-<account>-<region>, created
# private (SSE-S3, public access blocked), and $$account, $$partition, $$url_suffix.
define ensure_artifacts_bucket
$(call caller_account,$(1))
bucket="$(STACK_NAME)-artifacts-$$account-$(1)"
echo "==> artifacts bucket s3://$$bucket"
if ! $(AWS) --region $(1) s3api head-bucket --bucket "$$bucket" --expected-bucket-owner "$$account" >/dev/null 2>&1; then
  # CreateBucket has no owner condition; it fails when the name is taken by anyone, this account included.
  if [ "$(1)" = us-east-1 ]; then
    $(AWS) --region $(1) s3api create-bucket --bucket "$$bucket" >/dev/null
  else
    $(AWS) --region $(1) s3api create-bucket --bucket "$$bucket" --create-bucket-configuration LocationConstraint=$(1) >/dev/null
  fi
  $(AWS) --region $(1) s3api put-bucket-encryption --bucket "$$bucket" --expected-bucket-owner "$$account" \
    --server-side-encryption-configuration '{"Rules":[{"ApplyServerSideEncryptionByDefault":{"SSEAlgorithm":"AES256"}}]}'
  $(AWS) --region $(1) s3api put-public-access-block --bucket "$$bucket" --expected-bucket-owner "$$account" \
    --public-access-block-configuration BlockPublicAcls=true,IgnorePublicAcls=true,BlockPublicPolicy=true,RestrictPublicBuckets=true
  echo "    created (SSE-S3, public access blocked)"
fi
endef

# $(call upload,REGION,FILE,KEY): FILE to s3://$$bucket/KEY, SSE-S3, only into the caller's own bucket.
define upload
$(AWS) --region $(1) s3api put-object --bucket "$$bucket" --key "$(3)" --body "$(2)" \
  --server-side-encryption AES256 --expected-bucket-owner "$$account" >/dev/null
endef

# $(call publish_layer,REGION): sets $$layer_arn, publishing a new version only when the zip changed.
define publish_layer
echo "==> QScanner layer $(LAYER_NAME) in $(1)"
read -r layer_sha layer_key < <($(PYTHON) local/build.py sha256 "$(LAYER_ZIP)" --prefix layers/qscanner)
latest=$$($(AWS) --region $(1) lambda list-layer-versions --layer-name $(LAYER_NAME) --query 'max_by(LayerVersions, &Version).Version' --output text 2>/dev/null || true)
current_sha=""
if [[ "$$latest" =~ ^[0-9]+$$ ]]; then
  current_sha=$$($(AWS) --region $(1) lambda get-layer-version --layer-name $(LAYER_NAME) --version-number "$$latest" --query Content.CodeSha256 --output text)
fi
if [ "$$current_sha" = "$$layer_sha" ]; then
  layer_arn=$$($(AWS) --region $(1) lambda get-layer-version --layer-name $(LAYER_NAME) --version-number "$$latest" --query LayerVersionArn --output text)
  echo "    unchanged: $$layer_arn"
else
  $(call upload,$(1),$(LAYER_ZIP),$$layer_key)
  $(call publish_layer_version,$(1))
  echo "    published: $$layer_arn"
fi
endef

# $(call publish_layer_version,REGION): sets $$layer_arn to a new version of $$layer_key in $$bucket.
define publish_layer_version
layer_arn=$$($(AWS) --region $(1) lambda publish-layer-version --layer-name $(LAYER_NAME) \
  --description "Qualys QScanner at /opt/bin/qscanner" --content "S3Bucket=$$bucket,S3Key=$$layer_key" \
  --compatible-runtimes python3.11 python3.12 --query LayerVersionArn --output text)
endef

# $(call upload_code,REGION): sets $$code_key (content-hashed, so a new zip is a new stack parameter).
define upload_code
echo "==> scanner code"
read -r code_sha code_key < <($(PYTHON) local/build.py sha256 "$(CODE_ZIP)" --prefix scanner-lambda)
$(call upload,$(1),$(CODE_ZIP),$$code_key)
echo "    s3://$$bucket/$$code_key (CodeSha256 $$code_sha)"
endef

# $(call store_secret,REGION,SECRET NAME,EXTRA create-secret ARGS): sets $$secret_arn. The token goes
# from the environment to a 0600 file (mktemp) through a helper's stdout: it is never an argument of
# any process, so ps and the shell history never show it; the file goes when the subshell ends.
define store_secret
echo "==> Qualys secret $(2)"
secret_arn=$$(
  set -euo pipefail
  secret_file=$$(mktemp)
  trap 'rm -f "$$secret_file"' EXIT
  $(PYTHON) local/build.py secret-json --pod "$(QUALYS_POD)" >"$$secret_file"
  if arn=$$($(AWS) --region $(1) secretsmanager describe-secret --secret-id "$(2)" --query ARN --output text 2>/dev/null); then
    $(AWS) --region $(1) secretsmanager put-secret-value --secret-id "$$arn" --secret-string "file://$$secret_file" >/dev/null
    echo "    updated: $$arn" >&2
  else
    arn=$$($(AWS) --region $(1) secretsmanager create-secret --name "$(2)" $(3) \
      --description "Qualys pod and access token for the $(STACK_NAME) QScanner scanners" \
      --secret-string "file://$$secret_file" --query ARN --output text)
    echo "    created: $$arn" >&2
  fi
  echo "$$arn"
)
endef

# $(call deploy_stack,TEMPLATE,STACK,PARAMETER FILE[,BUCKET]): cloudformation deploy; parameters come
# from a JSON file (["Key=Value", ...], written by local/stack_parameters.py) so no value (ExternalId)
# is ever on a command line, and the user's PARAMETERS (read from the environment by that helper,
# never expanded into a recipe) keep their spaces, parentheses, `*` and `?`. With BUCKET
# the template goes through S3: CloudFormation takes at most 51,200 bytes inline (TemplateBody) and
# 1 MB from S3 (TemplateURL), per its quotas page, and our templates are near the inline limit; the
# CLI refuses a larger --template-file without --s3-bucket.
define deploy_stack
echo "==> stack $(2) in $(AWS_REGION)"
$(call emulator_explicit_parameters,$(1),$(2),$(3))
$(call emulator_cfn_deploy,$(AWSR) cloudformation deploy --template-file "$(1)" --stack-name "$(2)" $(if $(4),--s3-bucket "$(4)" --s3-prefix cloudformation) \
  --capabilities CAPABILITY_IAM CAPABILITY_NAMED_IAM --no-fail-on-empty-changeset --parameter-overrides "file://$(3)")
endef

# $(call stack_output,STACK,OUTPUT KEY): prints one output of a stack.
stack_output = $(AWSR) cloudformation describe-stacks --stack-name "$(1)" --query "Stacks[0].Outputs[?OutputKey=='$(2)'].OutputValue | [0]" --output text
