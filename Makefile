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
# Extra stack parameters: Key=Value pairs separated by spaces, where a value runs up to the next
# " Key=" and so may hold spaces, e.g. PARAMETERS="InventorySchedule=cron(0 3 * * ? *) EnableScanCache=false".
# Recipes read it from the environment (local/stack_parameters.py parses it), never from their text.
PARAMETERS ?=
export PARAMETERS
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
# A local mirror of the AWS provider (the only provider the modules use), for machines without access
# to the Terraform registry; used when the directory exists. TF_PLUGIN_DIR= (empty) downloads instead.
TF_PLUGIN_DIR ?= /opt/tf-plugins
TF_INIT_FLAGS ?= $(if $(and $(strip $(TF_PLUGIN_DIR)),$(wildcard $(TF_PLUGIN_DIR))),-plugin-dir=$(TF_PLUGIN_DIR))
TF_EXAMPLES := $(patsubst %/main.tf,%,$(wildcard terraform/examples/*/main.tf))
PY := $(VENV)/bin/python
LAYER_ZIP := $(BUILD)/qscanner-layer.zip
CODE_ZIP := $(BUILD)/scanner-lambda.zip
AWSR := $(AWS) --region $(AWS_REGION)
LAYER_NAME := $(STACK_NAME)-qscanner

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

test: $(VENV_STAMP) $(CHECKOV_STAMP) ## run the whole test suite: ruff, mypy, unit, moto, templates (cfn-lint, checkov), Makefile, demo, Terraform applied on moto
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy scanner-lambda/qualys_lambda
	# tests/functional/test_terraform_apply.py runs $(TERRAFORM) with the provider of TF_PLUGIN_DIR (or the CLI configuration).
	TERRAFORM="$(TERRAFORM)" TF_PLUGIN_DIR="$(TF_PLUGIN_DIR)" $(VENV)/bin/pytest

# The inner loop, within 90 s here: everything but the `slow` tests (scale tests, cfn-lint and checkov
# runs, Terraform applies) and the `deploys` ones (make deploy, make demo, whole stacks on the moto
# server), on both cores. Each worker has its own moto server; the make tests there build in tmp dirs.
test-fast: $(VENV_STAMP) ## the inner loop: ruff, mypy, the unit tests and the functional tests that deploy nothing
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy scanner-lambda/qualys_lambda
	$(VENV)/bin/pytest -q -n 2 --dist loadfile -m "not slow and not deploys" tests

lint: $(VENV_STAMP) $(CHECKOV_STAMP) ## ruff, mypy, cfn-lint and checkov
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy scanner-lambda/qualys_lambda
	$(VENV)/bin/cfn-lint cloudformation/*.yaml
	$(CHECKOV_VENV)/bin/checkov --quiet --compact --skip-download -d cloudformation
	for module in terraform/modules/scanner-*; do $(CHECKOV_VENV)/bin/checkov --quiet --compact --skip-download -d "$$module"; done

templates: $(VENV_STAMP) ## regenerate every generated file: cloudformation/*.yaml and Terraform's, from cloudformation/src (commit both)
	$(PY) cloudformation/render.py

bench: $(VENV_STAMP) ## benchmarks (on demand, not part of the tests)
	$(PY) bench/bench_scanner.py
	$(PY) bench/bench_coverage.py
	$(PY) bench/bench_organization.py
	$(PY) bench/bench_reuse.py

tf-validate: ## terraform fmt -check, then init and validate every example (needs terraform on PATH)
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

deploy: check layer package ## build, publish the layer, upload the code, store the secret, deploy the stack in AWS_REGION
	@$(check_parameters)
	$(call ensure_artifacts_bucket,$(AWS_REGION))
	$(call publish_layer,$(AWS_REGION))
	$(call upload_code,$(AWS_REGION))
	$(call store_secret,$(AWS_REGION),$(SECRET_NAME),)
	params=$$(mktemp)
	trap 'rm -f "$$params"' EXIT
	$(PYTHON) -m local.stack_parameters "QualysPod=$(QUALYS_POD)" "QualysSecretArn=$$secret_arn" "QScannerLayerArn=$$layer_arn" \
	  "CodeS3Bucket=$$bucket" "CodeS3Key=$$code_key" "KmsKeyArn=$(KMS_KEY_ARN)" --parameters-env PARAMETERS >"$$params"
	$(call deploy_stack,$(TEMPLATE),$(STACK_NAME),$$params,$$bucket)
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
	@name=$$($(call stack_output,$(STACK_NAME),ScannerFunctionName))
	$(call emulator_scanner_name,$(STACK_NAME))
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
	  $(call emulator_no_outputs,$(STACK_NAME))
	fi

deploy-multi-region: ## make deploy in each region of REGIONS
	@for region in $(REGIONS); do
	  echo "######## $$region"
	  $(MAKE) --no-print-directory deploy AWS_REGION="$$region"
	done

update-function: check-aws package ## ship new handler code to the stack's scanner function in AWS_REGION
	@name=$$($(MAKE) --no-print-directory -s scanner-name)
	$(call caller_account,$(AWS_REGION))
	bucket="$(STACK_NAME)-artifacts-$$account-$(AWS_REGION)"
	read -r code_sha code_key < <($(PYTHON) local/build.py sha256 "$(CODE_ZIP)" --prefix scanner-lambda)
	$(call upload,$(AWS_REGION),$(CODE_ZIP),$$code_key)
	$(AWSR) lambda update-function-code --function-name "$$name" --s3-bucket "$$bucket" --s3-key "$$code_key" \
	  --query '[FunctionName,CodeSha256]' --output text | awk -F'\t' '{print "updated " $$1 ": CodeSha256 " $$2}'
	echo "note: the stack's CodeS3Key still names the previous zip until the next make deploy"

# $(call purge_bucket,BUCKET): every object version and delete marker (500 a page), then the bucket;
# only a bucket of $$account (the credentials' account).
define purge_bucket
if $(AWSR) s3api head-bucket --bucket "$(1)" --expected-bucket-owner "$$account" >/dev/null 2>&1; then
  batch=$$(mktemp)
  while :; do
    $(AWSR) s3api list-object-versions --bucket "$(1)" --expected-bucket-owner "$$account" --max-keys 500 --no-paginate --output json \
      --query '{Objects: [Versions, DeleteMarkers][][].{Key: Key, VersionId: VersionId}, Quiet: `true`}' >"$$batch"
    grep -q '"Key"' "$$batch" || break
    $(AWSR) s3api delete-objects --bucket "$(1)" --expected-bucket-owner "$$account" --delete "file://$$batch" >/dev/null
  done
  rm -f "$$batch"
  $(AWSR) s3api delete-bucket --bucket "$(1)" --expected-bucket-owner "$$account"
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

# The deploy steps every deploy target is made of, what only an emulator needs, the multi-account
# targets (deploy-stackset, deploy-hub, deploy-spoke) and suppressions as code.
include mk/deploy-steps.mk mk/emulator.mk mk/multi-account.mk mk/suppressions.mk
