# Suppressions as code, included by the main Makefile (which defines AWSR, AWS_REGION, STACK_NAME, PY,
# VENV_STAMP, SCANNER_SRC and check-aws). docs/findings.md, "Suppressions", describes the document.
#
#   make suppressions FILE=suppressions.json AWS_REGION=us-east-1 [SUPPRESSIONS_BUCKET=my-bucket]
#
# The whole file is validated first (one error line per bad rule) and nothing is uploaded if any rule
# is bad. It goes to the stack's results bucket, or SUPPRESSIONS_BUCKET, at a fixed key; the scanner
# reads it when the stack's SuppressionsUri parameter names it.

FILE ?=
SUPPRESSIONS_BUCKET ?=
SUPPRESSIONS_KEY := suppressions/suppressions.json

.PHONY: suppressions

suppressions: $(VENV_STAMP) ## validate FILE (one line per bad rule) and upload it; prints the SuppressionsUri to deploy with
	@[ -n "$(FILE)" ] || { echo "error: FILE=path/to/suppressions.json is required" >&2; exit 1; }
	PYTHONPATH=$(SCANNER_SRC) $(PY) -m qualys_lambda.suppressions validate "$(FILE)"
	$(MAKE) --no-print-directory -s check-aws
	bucket="$(SUPPRESSIONS_BUCKET)"
	if [ -z "$$bucket" ]; then
	  bucket=$$($(AWSR) cloudformation list-stack-resources --stack-name "$(STACK_NAME)" --output text \
	    --query "StackResourceSummaries[?LogicalResourceId=='ResultsBucket'].PhysicalResourceId | [0]")
	  if [ -z "$$bucket" ] || [ "$$bucket" = None ]; then
	    echo "error: stack $(STACK_NAME) in $(AWS_REGION) has no results bucket: pass SUPPRESSIONS_BUCKET=..." >&2
	    exit 1
	  fi
	fi
	# Only into a bucket of this account (see mk/deploy-steps.mk).
	$(call caller_account,$(AWS_REGION))
	$(AWSR) s3api put-object --bucket "$$bucket" --key "$(SUPPRESSIONS_KEY)" --body "$(FILE)" \
	  --content-type application/json --expected-bucket-owner "$$account" > /dev/null
	echo "uploaded $(FILE) to s3://$$bucket/$(SUPPRESSIONS_KEY)"
	echo "SuppressionsUri=s3://$$bucket/$(SUPPRESSIONS_KEY)"
	echo "    set it once: make deploy PARAMETERS=\"SuppressionsUri=s3://$$bucket/$(SUPPRESSIONS_KEY)\" (later uploads need no redeploy)"
