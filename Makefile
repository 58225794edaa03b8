# qualys-lambda: build, test, deploy. `make help` lists the targets.
#
#   export QUALYS_CLIENT_ID QUALYS_CLIENT_SECRET   # or QUALYS_ACCESS_TOKEN; environment only, never on the
#                                                  # make command line
#   make deploy QUALYS_POD=US2 AWS_REGION=us-east-2
#
AWS_REGION ?=
STACK_NAME ?= qscanner
# Required, never defaulted: a wrong POD would deploy a scanner whose every scan fails.
QUALYS_POD ?=
# Qualys credentials come from the environment only: QUALYS_CLIENT_ID + QUALYS_CLIENT_SECRET (preferred:
# QScanner renews its own JWT) or QUALYS_ACCESS_TOKEN; optional QUALYS_GATEWAY_URL for platforms outside
# the POD list. Recipes read them in a helper's environment and never expand them into a command line.
QUALYS_ACCESS_TOKEN ?=
QUALYS_CLIENT_ID ?=
QUALYS_CLIENT_SECRET ?=
QSCANNER ?= scanner-lambda/qscanner.gz
# PURGE=1: the delete targets also remove what they keep by default (secrets, buckets, layer versions).
PURGE ?=
REGIONS ?= us-east-1 us-west-2 eu-west-1
AWS_ENDPOINT_URL ?=
SECRET_NAME ?= $(STACK_NAME)/qualys
AWS ?= aws
# Extra stack parameters, e.g. PARAMETERS="EnableScanCache=false ScannerMemorySize=3008".
PARAMETERS ?=
# Optional customer managed key (KmsKeyArn) for the results bucket, queues, cache table and log group.
# Always passed, empty or not, so an update never sees the parameter appear (emulators such as moto
# then update the log group, which they cannot).
KMS_KEY_ARN ?=
TEMPLATE ?= cloudformation/single-account-native.yaml
# The handler's source directory (lambda_function.py and qualys_lambda/).
SCANNER_SRC ?= scanner-lambda
BUILD ?= build

SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.ONESHELL:
PYTHON ?= python3
VENV := .venv
VENV_STAMP := $(VENV)/.installed
CHECKOV_VENV := .venv-checkov
CHECKOV_STAMP := $(CHECKOV_VENV)/.installed
TERRAFORM ?= terraform
# e.g. TF_INIT_FLAGS=-plugin-dir=/opt/tf-plugins where the registry is unreachable
TF_INIT_FLAGS ?=
TF_EXAMPLES := terraform/examples/single-region-native terraform/examples/single-account-multi-region
PY := $(VENV)/bin/python
LAYER_ZIP := $(BUILD)/qscanner-layer.zip
CODE_ZIP := $(BUILD)/scanner-lambda.zip
AWSR := $(AWS) --region $(AWS_REGION)
LAYER_NAME := $(STACK_NAME)-qscanner

ifneq ($(strip $(AWS_ENDPOINT_URL)),)
# An emulator: awscli and boto3 both send every call there.
export AWS_ENDPOINT_URL
endif
# `cloudformation deploy --s3-bucket` hands CloudFormation a path-style TemplateURL on the endpoint's
# host; moto reads such a URL only when that host is "localhost", so an emulator on 127.0.0.1 is
# named so for that one command. Empty (no change) on AWS.
CFN_DEPLOY_ENV := $(if $(strip $(AWS_ENDPOINT_URL)),AWS_ENDPOINT_URL=$(subst 127.0.0.1,localhost,$(AWS_ENDPOINT_URL)))

$(foreach v,QUALYS_ACCESS_TOKEN QUALYS_CLIENT_ID QUALYS_CLIENT_SECRET,$(if $(filter command line,$(origin $(v))),$(error $(v) must come from the environment (export $(v)), not the make command line, where ps and shell history show it)))

.PHONY: help test test-fast lint venv layer package check check-aws deploy outputs deploy-multi-region update-function \
	delete clean demo coverage scan-all bench tf-validate stack-env scanner-name templates

help: ## list the targets
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-22s %s\n", $$1, $$2}'

$(VENV_STAMP): requirements-dev.txt constraints-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements-dev.txt -c constraints-dev.txt
	touch $@

$(CHECKOV_STAMP): requirements-checkov.txt constraints-checkov.txt
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements-checkov.txt -c constraints-checkov.txt
	touch $@

venv: $(VENV_STAMP) $(CHECKOV_STAMP) ## create the local environments from pinned requirements (.venv, .venv-checkov)

test: $(VENV_STAMP) $(CHECKOV_STAMP) ## run the whole test suite: ruff, mypy, unit, moto, templates (cfn-lint, checkov), Makefile, demo
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy scanner-lambda/qualys_lambda
	$(VENV)/bin/pytest

# The inner loop, within 90 s here: the unit tests without the `slow` ones (scale tests, cfn-lint and
# checkov runs). The functional tests on moto take one to five seconds each (about 300 of them), so they
# stay in `make test`, which runs everything; `pytest -m "not deploys and not slow"` runs them without
# the tests that deploy through make (`deploys`; test_demo.py is `make demo`, a deploy, as a whole).
test-fast: $(VENV_STAMP) ## the inner loop: ruff, mypy and the unit tests that run no external linter
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy scanner-lambda/qualys_lambda
	$(VENV)/bin/pytest -q -m "not slow" tests/unit

lint: $(VENV_STAMP) $(CHECKOV_STAMP) ## ruff, mypy, cfn-lint and checkov
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy scanner-lambda/qualys_lambda
	$(VENV)/bin/cfn-lint cloudformation/*.yaml
	$(CHECKOV_VENV)/bin/checkov --quiet --compact --skip-download -d cloudformation
	$(CHECKOV_VENV)/bin/checkov --quiet --compact --skip-download -d terraform/modules/scanner-native

templates: $(VENV_STAMP) ## render cloudformation/*.yaml from cloudformation/src (commit both)
	$(PY) cloudformation/render.py

bench: $(VENV_STAMP) ## benchmarks (on demand, not part of the tests)
	$(PY) bench/bench_scanner.py
	$(PY) bench/bench_coverage.py
	$(PY) bench/bench_organization.py

tf-validate: ## terraform fmt -check, then init and validate both examples (needs terraform on PATH)
	@command -v $(TERRAFORM) >/dev/null || { echo "tf-validate: terraform not found: install it (https://developer.hashicorp.com/terraform/install)" >&2; exit 1; }
	$(TERRAFORM) fmt -check -recursive terraform
	for dir in $(TF_EXAMPLES); do
	  echo "==> $$dir"
	  $(TERRAFORM) -chdir="$$dir" init -backend=false -input=false $(TF_INIT_FLAGS) >/dev/null
	  $(TERRAFORM) -chdir="$$dir" validate
	done

demo: $(VENV_STAMP) ## deploy and run the scanner on a local AWS emulator (QScanner SIMULATED; no AWS account)
	@$(PY) -m local.demo --make "$(MAKE)"

# ---------------------------------------------------------------- build

layer: ## pack QSCANNER (qscanner.gz or the binary) into build/qscanner-layer.zip at bin/qscanner
	@$(PYTHON) local/build.py layer --qscanner "$(QSCANNER)" --output "$(LAYER_ZIP)"

package: ## zip the handler into build/scanner-lambda.zip (deterministic; the S3 key carries its hash)
	@key=$$($(PYTHON) local/build.py package --source "$(SCANNER_SRC)" --output "$(CODE_ZIP)")
	echo "built $(CODE_ZIP) (S3 key $$key)"

# ---------------------------------------------------------------- deploy

# Prerequisite checks: local/preflight.py reports every missing or invalid one in one run, one line
# each on stderr, before anything touches AWS (its only call is the read-only sts get-caller-identity).
PREFLIGHT = $(PYTHON) -m local.preflight --aws "$(AWS)" --region "$(AWS_REGION)" --pod "$(QUALYS_POD)" \
	--qscanner "$(QSCANNER)" --target "$(or $(firstword $(MAKECMDGOALS)),deploy)"
# Used by mk/multi-account.mk's checks.
check_cli = $(PREFLIGHT) cli region
check_token = $(PREFLIGHT) qualys pod qscanner
check_credentials = $(PREFLIGHT) credentials

check-aws:
	@$(PREFLIGHT) cli credentials region

check: ## check deploy prerequisites, all in one run: AWS CLI, credentials, AWS_REGION, Qualys credential, QUALYS_POD, QScanner binary
	@$(PREFLIGHT) cli credentials region qualys pod qscanner

# $(call stack_parameters,TEMPLATE,STACK,FILE): FILE (a JSON list of Key=Value) is the deploy's
# --parameter-overrides. On an emulator every parameter is made explicit (local/stack_parameters.py
# says why moto needs it); on AWS the file is left as it is.
define stack_parameters
if [ -n "$${AWS_ENDPOINT_URL:-}" ]; then
  $(AWSR) cloudformation get-template-summary --template-body "file://$(1)" --query Parameters --output json >"$(3).template"
  $(AWSR) cloudformation describe-stacks --stack-name "$(2)" --query 'Stacks[0].Parameters' --output json >"$(3).stack" 2>/dev/null || echo null >"$(3).stack"
  $(PYTHON) -m local.stack_parameters --overrides-file "$(3)" --template-parameters "$(3).template" --stack-parameters "$(3).stack" >"$(3).full"
  mv "$(3).full" "$(3)"
  rm -f "$(3).template" "$(3).stack"
fi
endef

# $(call emulator_schedule_targets,STACK): on an emulator only, detach the Lambda target of the stack's
# inventory schedule rule. moto fires no schedules, yet its PutEvents runs every event through a
# schedule-only rule (no pattern) and then raises NotImplementedError on a Lambda target: HTTP 500 for
# every put-events ("Force a scan"), each CLI retry queueing the request again.
define emulator_schedule_targets
if [ -n "$${AWS_ENDPOINT_URL:-}" ]; then
  rule=$$($(AWSR) cloudformation list-stack-resources --stack-name "$(1)" \
    --query "StackResourceSummaries[?LogicalResourceId=='InventoryScheduleRule'].PhysicalResourceId | [0]" --output text)
  if [ -n "$$rule" ] && [ "$$rule" != None ]; then
    ids=$$($(AWSR) events list-targets-by-rule --rule "$$rule" --query "Targets[?contains(Arn, ':lambda:')].Id" --output text)
    if [ -n "$$ids" ] && [ "$$ids" != None ]; then
      $(AWSR) events remove-targets --rule "$$rule" --ids $$ids >/dev/null
      echo "    emulator: Lambda target of $$rule detached (moto fires no schedules and cannot invoke Lambda targets)"
    fi
  fi
fi
endef

deploy: check layer package ## build, publish the layer, upload the code, store the secret, deploy the stack in AWS_REGION
	@account=$$($(AWSR) sts get-caller-identity --query Account --output text)
	bucket="$(STACK_NAME)-artifacts-$$account-$(AWS_REGION)"
	echo "==> artifacts bucket s3://$$bucket"
	if ! $(AWSR) s3api head-bucket --bucket "$$bucket" >/dev/null 2>&1; then
	  if [ "$(AWS_REGION)" = us-east-1 ]; then
	    $(AWSR) s3api create-bucket --bucket "$$bucket" >/dev/null
	  else
	    $(AWSR) s3api create-bucket --bucket "$$bucket" --create-bucket-configuration LocationConstraint=$(AWS_REGION) >/dev/null
	  fi
	  $(AWSR) s3api put-bucket-encryption --bucket "$$bucket" \
	    --server-side-encryption-configuration '{"Rules":[{"ApplyServerSideEncryptionByDefault":{"SSEAlgorithm":"AES256"}}]}'
	  $(AWSR) s3api put-public-access-block --bucket "$$bucket" --public-access-block-configuration \
	    BlockPublicAcls=true,IgnorePublicAcls=true,BlockPublicPolicy=true,RestrictPublicBuckets=true
	  echo "    created (SSE-S3, public access blocked)"
	fi
	echo "==> QScanner layer $(LAYER_NAME)"
	read -r layer_sha layer_key < <($(PYTHON) local/build.py sha256 "$(LAYER_ZIP)" --prefix layers/qscanner)
	latest=$$($(AWSR) lambda list-layer-versions --layer-name $(LAYER_NAME) --query 'max_by(LayerVersions, &Version).Version' --output text 2>/dev/null || true)
	current_sha=""
	if [[ "$$latest" =~ ^[0-9]+$$ ]]; then
	  current_sha=$$($(AWSR) lambda get-layer-version --layer-name $(LAYER_NAME) --version-number "$$latest" --query Content.CodeSha256 --output text)
	fi
	if [ "$$current_sha" = "$$layer_sha" ]; then
	  layer_arn=$$($(AWSR) lambda get-layer-version --layer-name $(LAYER_NAME) --version-number "$$latest" --query LayerVersionArn --output text)
	  echo "    unchanged: $$layer_arn"
	else
	  $(AWSR) s3 cp "$(LAYER_ZIP)" "s3://$$bucket/$$layer_key" --sse AES256 --only-show-errors
	  layer_arn=$$($(AWSR) lambda publish-layer-version --layer-name $(LAYER_NAME) \
	    --description "Qualys QScanner at /opt/bin/qscanner" --content "S3Bucket=$$bucket,S3Key=$$layer_key" \
	    --compatible-runtimes python3.11 python3.12 --query LayerVersionArn --output text)
	  echo "    published: $$layer_arn"
	fi
	echo "==> scanner code"
	read -r code_sha code_key < <($(PYTHON) local/build.py sha256 "$(CODE_ZIP)" --prefix scanner-lambda)
	$(AWSR) s3 cp "$(CODE_ZIP)" "s3://$$bucket/$$code_key" --sse AES256 --only-show-errors
	echo "    s3://$$bucket/$$code_key (CodeSha256 $$code_sha)"
	echo "==> Qualys secret $(SECRET_NAME)"
	# The token goes from the environment to a 0600 file (mktemp) through a helper's stdout: it is
	# never an argument of any process, so ps and the shell history never show it.
	secret_file=$$(mktemp)
	trap 'rm -f "$$secret_file"' EXIT
	$(PYTHON) local/build.py secret-json --pod "$(QUALYS_POD)" >"$$secret_file"
	if secret_arn=$$($(AWSR) secretsmanager describe-secret --secret-id "$(SECRET_NAME)" --query ARN --output text 2>/dev/null); then
	  $(AWSR) secretsmanager put-secret-value --secret-id "$$secret_arn" --secret-string "file://$$secret_file" >/dev/null
	  echo "    updated: $$secret_arn"
	else
	  secret_arn=$$($(AWSR) secretsmanager create-secret --name "$(SECRET_NAME)" \
	    --description "Qualys pod and access token for the $(STACK_NAME) QScanner stack" \
	    --secret-string "file://$$secret_file" --query ARN --output text)
	  echo "    created: $$secret_arn"
	fi
	rm -f "$$secret_file"
	echo "==> stack $(STACK_NAME) in $(AWS_REGION)"
	# The template goes through the artifacts bucket: CloudFormation takes at most 51,200 bytes inline
	# (TemplateBody) and 1 MB from S3 (TemplateURL), per its quotas page, and our templates are near
	# the inline limit; the CLI refuses a larger --template-file without --s3-bucket.
	deploy_log=$$(mktemp)
	params=$$(mktemp)
	trap 'rm -f "$$secret_file" "$$deploy_log" "$$params"' EXIT
	$(PYTHON) -m local.stack_parameters QualysPod=$(QUALYS_POD) "QualysSecretArn=$$secret_arn" "QScannerLayerArn=$$layer_arn" \
	  "CodeS3Bucket=$$bucket" "CodeS3Key=$$code_key" "KmsKeyArn=$(KMS_KEY_ARN)" $(PARAMETERS) >"$$params"
	$(call stack_parameters,$(TEMPLATE),$(STACK_NAME),$$params)
	if ! $(CFN_DEPLOY_ENV) $(AWSR) cloudformation deploy --template-file "$(TEMPLATE)" --stack-name "$(STACK_NAME)" \
	  --s3-bucket "$$bucket" --s3-prefix cloudformation \
	  --capabilities CAPABILITY_IAM CAPABILITY_NAMED_IAM --no-fail-on-empty-changeset \
	  --parameter-overrides "file://$$params" 2>&1 | tee "$$deploy_log"; then
	  # Some emulators (moto) answer an unchanged deploy with this error instead of an empty change set.
	  grep -q "No updates are to be performed" "$$deploy_log" || exit 1
	  echo "    no changes: the stack is up to date"
	fi
	$(call emulator_schedule_targets,$(STACK_NAME))
	$(MAKE) --no-print-directory outputs

coverage: $(VENV_STAMP) check-aws ## coverage report of every function in AWS_REGION (JSON=1 for machines)
	@name=$$($(MAKE) --no-print-directory -s scanner-name)
	PYTHONPATH=$(SCANNER_SRC) AWS_DEFAULT_REGION=$(AWS_REGION) $(PY) -m qualys_lambda.cli coverage \
	  --function-name "$$name" $(if $(JSON),--json,)

scan-all: $(VENV_STAMP) check-aws ## enqueue a scan of every function without a valid scan in AWS_REGION (the backfill, now)
	@name=$$($(MAKE) --no-print-directory -s scanner-name)
	PYTHONPATH=$(SCANNER_SRC) AWS_DEFAULT_REGION=$(AWS_REGION) $(PY) -m qualys_lambda.cli scan-all --function-name "$$name"

scanner-name: check-aws
	@name=$$($(AWSR) cloudformation describe-stacks --stack-name "$(STACK_NAME)" \
	  --query "Stacks[0].Outputs[?OutputKey=='ScannerFunctionName'].OutputValue | [0]" --output text)
	if [ -z "$$name" ] || [ "$$name" = None ]; then
	  # Same function, found by its logical id (for emulators that do not compute outputs).
	  name=$$($(AWSR) cloudformation describe-stack-resource --stack-name "$(STACK_NAME)" \
	    --logical-resource-id ScannerFunction --query StackResourceDetail.PhysicalResourceId --output text)
	fi
	echo "$$name"

stack-env: check-aws ## print export lines for the stack's resources, for eval "$(make -s stack-env AWS_REGION=...)"
	@$(AWSR) cloudformation list-stack-resources --stack-name "$(STACK_NAME)" \
	  --query 'StackResourceSummaries[].[LogicalResourceId,PhysicalResourceId]' --output text \
	| awk -F'\t' 'BEGIN { split("ScannerFunction=SCANNER_FUNCTION ResultsBucket=RESULTS_BUCKET ScanCacheTable=CACHE_TABLE NotificationTopic=TOPIC_ARN ScanQueue=SCAN_QUEUE_URL DeadLetterQueue=DLQ_URL ScannerLogGroup=LOG_GROUP", pairs, " "); for (i in pairs) { split(pairs[i], kv, "="); names[kv[1]] = kv[2] } } ($$1 in names) { print "export " names[$$1] "=" $$2 }'

outputs: check-aws ## print the stack's outputs
	@status=$$($(AWSR) cloudformation describe-stacks --stack-name "$(STACK_NAME)" --query 'Stacks[0].StackStatus' --output text)
	echo "==> outputs of stack $(STACK_NAME) in $(AWS_REGION) ($$status)"
	outputs=$$($(AWSR) cloudformation describe-stacks --stack-name "$(STACK_NAME)" \
	  --query 'Stacks[0].Outputs[].[OutputKey,OutputValue]' --output text)
	if [ -n "$$outputs" ] && [ "$$outputs" != None ]; then
	  printf '%s\n' "$$outputs" | awk -F'\t' '{printf "    %-38s %s\n", $$1, $$2}'
	else
	  # moto's CloudFormation does not compute outputs for stacks deployed through change sets.
	  echo "    the stack reports no outputs (an emulator may not compute them); its resources instead:"
	  $(AWSR) cloudformation list-stack-resources --stack-name "$(STACK_NAME)" \
	    --query 'StackResourceSummaries[?LogicalResourceId].[LogicalResourceId,PhysicalResourceId]' --output text \
	    | awk -F'\t' '{printf "    %-38s %s\n", $$1, $$2}'
	fi

deploy-multi-region: ## make deploy in each region of REGIONS
	@for region in $(REGIONS); do
	  echo "######## $$region"
	  $(MAKE) --no-print-directory deploy AWS_REGION="$$region"
	done

update-function: check-aws package ## ship new handler code to the stack's scanner function in AWS_REGION
	@name=$$($(MAKE) --no-print-directory -s scanner-name)
	account=$$($(AWSR) sts get-caller-identity --query Account --output text)
	bucket="$(STACK_NAME)-artifacts-$$account-$(AWS_REGION)"
	read -r code_sha code_key < <($(PYTHON) local/build.py sha256 "$(CODE_ZIP)" --prefix scanner-lambda)
	$(AWSR) s3 cp "$(CODE_ZIP)" "s3://$$bucket/$$code_key" --sse AES256 --only-show-errors
	$(AWSR) lambda update-function-code --function-name "$$name" --s3-bucket "$$bucket" --s3-key "$$code_key" \
	  --query '[FunctionName,CodeSha256]' --output text | awk -F'\t' '{print "updated " $$1 ": CodeSha256 " $$2}'
	echo "note: the stack's CodeS3Key still names the previous zip until the next make deploy"

# $(call purge_bucket,BUCKET): every object version and delete marker (500 a page), then the bucket.
define purge_bucket
if $(AWSR) s3api head-bucket --bucket "$(1)" >/dev/null 2>&1; then
  batch=$$(mktemp)
  while :; do
    $(AWSR) s3api list-object-versions --bucket "$(1)" --max-keys 500 --no-paginate --output json \
      --query '{Objects: [Versions, DeleteMarkers][][].{Key: Key, VersionId: VersionId}, Quiet: `true`}' >"$$batch"
    grep -q '"Key"' "$$batch" || break
    $(AWSR) s3api delete-objects --bucket "$(1)" --delete "file://$$batch" >/dev/null
  done
  rm -f "$$batch"
  $(AWSR) s3api delete-bucket --bucket "$(1)"
  echo "    deleted bucket $(1) and every object version in it"
fi
endef

# $(purge_artifacts): what make deploy made beside a stack in AWS_REGION ($$artifacts is its bucket).
define purge_artifacts
$(call purge_bucket,$$artifacts)
if $(AWSR) secretsmanager describe-secret --secret-id "$(SECRET_NAME)" >/dev/null 2>&1; then
  $(AWSR) secretsmanager delete-secret --secret-id "$(SECRET_NAME)" --force-delete-without-recovery >/dev/null
  echo "    deleted secret $(SECRET_NAME)"
fi
for version in $$($(AWSR) lambda list-layer-versions --layer-name "$(LAYER_NAME)" --query 'LayerVersions[].Version' --output text); do
  $(AWSR) lambda delete-layer-version --layer-name "$(LAYER_NAME)" --version-number "$$version"
  echo "    deleted layer version $(LAYER_NAME):$$version"
done
endef

purge-artifacts: check-aws
	@account=$$($(AWSR) sts get-caller-identity --query Account --output text)
	artifacts="$(STACK_NAME)-artifacts-$$account-$(AWS_REGION)"
	$(purge_artifacts)

# $(call delete_stack,STACK,SHARED WITH): delete STACK and wait. With PURGE=1, first print and then
# remove what the stack retains (ResultsBucket, TrailBucket: DeletionPolicy Retain) and, unless
# SHARED WITH (the other stack using them) still exists, what make deploy made beside it: the
# artifacts bucket, the secret $(SECRET_NAME), the $(LAYER_NAME) layer versions. An empty SHARED WITH
# means the stack has no such artifacts (a spoke).
define delete_stack
retained=$$($(AWSR) cloudformation list-stack-resources --stack-name "$(1)" --output text \
  --query "StackResourceSummaries[?LogicalResourceId=='ResultsBucket' || LogicalResourceId=='TrailBucket'].PhysicalResourceId" 2>/dev/null || true)
account=$$($(AWSR) sts get-caller-identity --query Account --output text)
artifacts="$(STACK_NAME)-artifacts-$$account-$(AWS_REGION)"
shared=""
if [ -n "$(2)" ]; then
  shared=yes
  other=$$($(AWSR) cloudformation describe-stacks --stack-name "$(2)" --query 'Stacks[0].StackStatus' --output text 2>/dev/null || true)
  if [ -n "$$other" ] && [ "$$other" != DELETE_COMPLETE ]; then shared="in use by $(2)"; fi
fi
if [ -n "$(PURGE)" ]; then
  echo "==> PURGE=1: after the stack $(1), these are deleted for good (no recovery window):"
  for b in $$retained; do echo "    bucket $$b (every object version)"; done
  if [ "$$shared" = yes ]; then
    echo "    bucket $$artifacts (every object version)"
    echo "    secret $(SECRET_NAME)"
    echo "    every version of the layer $(LAYER_NAME)"
  elif [ -n "$$shared" ]; then
    echo "    kept, $$shared: bucket $$artifacts, secret $(SECRET_NAME), layer $(LAYER_NAME)"
  fi
fi
echo "==> deleting stack $(1) in $(AWS_REGION) ..."
$(AWSR) cloudformation delete-stack --stack-name "$(1)"
$(AWSR) cloudformation wait stack-delete-complete --stack-name "$(1)"
echo "deleted stack $(1)."
if [ -n "$(PURGE)" ]; then
  for b in $$retained; do
    $(call purge_bucket,$$b)
  done
  if [ "$$shared" = yes ]; then
    $(purge_artifacts)
  fi
else
  [ -z "$$retained" ] || echo "Kept on purpose (PURGE=1 deletes them): the bucket(s) $$retained (DeletionPolicy Retain)."
  [ -z "$(2)" ] || echo "Kept on purpose (PURGE=1 deletes them): the secret $(SECRET_NAME), the artifacts bucket $$artifacts, the $(LAYER_NAME) layer versions."
fi
endef

delete: check-aws ## delete the stack in AWS_REGION and wait; PURGE=1 also deletes the secret, the buckets (every object version) and the layer versions
	@$(call delete_stack,$(STACK_NAME),$(HUB_STACK_NAME))

delete-multi-region: ## make delete in each region of REGIONS (PURGE=1 passes through)
	@for region in $(REGIONS); do
	  echo "######## $$region"
	  $(MAKE) --no-print-directory delete AWS_REGION="$$region"
	done

clean: ## remove build/ and caches (no AWS access needed)
	@rm -rf "$(BUILD)" .pytest_cache .ruff_cache .mypy_cache
	find . \( -path ./.git -o -path './.venv*' \) -prune -o -type d -name __pycache__ -exec rm -rf {} +
	echo "removed $(BUILD)/ and caches"

# Multi-account targets: deploy-stackset, deploy-hub, deploy-spoke.
include mk/multi-account.mk
