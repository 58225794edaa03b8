# Multi-account targets, included by the main Makefile (which defines AWS, AWSR, AWS_REGION, STACK_NAME,
# QUALYS_POD, REGIONS, SECRET_NAME, PARAMETERS, LAYER_ZIP, CODE_ZIP, LAYER_NAME, PYTHON, check_cli,
# check_token, check_credentials and the layer / package targets). docs/multi-account.md explains both models.
#
#   export QUALYS_CLIENT_ID QUALYS_CLIENT_SECRET EXTERNAL_ID  # (or QUALYS_ACCESS_TOKEN) environment only
#   make deploy-hub      AWS_REGION=us-east-1 ORG_ID=o-abc123def4 [SPOKE_ACCOUNT_IDS=111111111111,222222222222] \
#                        [INVENTORY_REGIONS=us-east-1,eu-west-1]
#   make deploy-spoke    AWS_REGION=us-east-1 HUB_BUS_ARN=arn:... HUB_ROLE_ARN=arn:...
#   make deploy-stackset ORG_ID=o-abc123def4 OU_IDS="ou-ab12-cdef3456" REGIONS="us-east-1 eu-west-1"
#   make delete-hub / delete-spoke / delete-stackset [PURGE=1]   # uninstall; PURGE=1 also what is kept

# Centralized model.
HUB_STACK_NAME ?= $(STACK_NAME)-hub
SPOKE_STACK_NAME ?= $(STACK_NAME)-spoke
# Optional: deploy-hub refuses to run with credentials of another account.
HUB_ACCOUNT_ID ?=
ORG_ID ?=
# Comma-separated spoke accounts (the hub's AllowedAccountIds); empty = every account of ORG_ID.
SPOKE_ACCOUNT_IDS ?=
# Comma-separated regions the hub's inventory lists in every spoke (the regions the spokes forward
# from); empty = the hub's region only.
INVENTORY_REGIONS ?=
SPOKE_ROLE_NAME ?= QualysScannerSpokeRole
# IAM is global: the spoke role is created by the spoke stack in this region only.
SPOKE_ROLE_REGION ?= $(AWS_REGION)
SPOKE_CREATE_TRAIL ?= false
# true when the hub imports findings into Security Hub (the spoke role's Security Hub statements).
SPOKE_SECURITY_HUB ?= false
HUB_BUS_ARN ?=
HUB_ROLE_ARN ?=
# EXTERNAL_ID comes from the environment only (like the Qualys credentials): it reaches CloudFormation
# through a 0600 parameter file, never a command line.
EXTERNAL_ID ?=
# StackSet model.
STACKSET_NAME ?= $(STACK_NAME)
OU_IDS ?=
# SELF from the management account, DELEGATED_ADMIN from a delegated StackSets administrator.
CALL_AS ?= SELF
ORG_SECRET_KEY_ALIAS ?= alias/$(STACKSET_NAME)-org-secret
# The shared secret has its own name: a secret made by `make deploy` (AWS managed key) cannot be shared.
ORG_SECRET_NAME ?= $(STACKSET_NAME)/qualys-org
# KMS keeps a deleted key for 7 to 30 days (AWS KMS "Deleting AWS KMS keys"): the shortest wait.
KMS_PENDING_DAYS ?= 7
comma := ,
space := $(subst ,, )

ifeq ($(origin EXTERNAL_ID),command line)
$(error EXTERNAL_ID must come from the environment (export EXTERNAL_ID), not the make command line, where ps and shell history show it)
endif

.PHONY: deploy-hub deploy-spoke deploy-stackset check-hub check-spoke check-stackset delete-hub delete-spoke delete-stackset

# ---------------------------------------------------------------- prerequisite checks (one line each)

define check_external_id
[ -n "$${EXTERNAL_ID:-}" ] || { echo "error: EXTERNAL_ID is not set: export the hub's ExternalId first (for a new hub: export EXTERNAL_ID=\$$(openssl rand -hex 24))" >&2; exit 1; }
[ "$${#EXTERNAL_ID}" -ge 16 ] || { echo "error: EXTERNAL_ID must be at least 16 characters" >&2; exit 1; }
endef
define check_org_or_accounts
[ -n "$(ORG_ID)$(SPOKE_ACCOUNT_IDS)" ] || { echo "error: set ORG_ID=o-... (every account of the organisation) and/or SPOKE_ACCOUNT_IDS=111111111111,... (only those)" >&2; exit 1; }
endef
define check_inventory_regions
[[ "$(INVENTORY_REGIONS)" =~ ^([a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-[0-9]{1,2}(,[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-[0-9]{1,2})*)?$$ ]] || { echo "error: INVENTORY_REGIONS must be comma-separated regions without spaces, e.g. INVENTORY_REGIONS=us-east-1,eu-west-1" >&2; exit 1; }
endef
define check_org
[[ "$(ORG_ID)" =~ ^o-[a-z0-9]{10,32}$$ ]] || { echo "error: ORG_ID is not set or not an organisation id: run make $@ ORG_ID=o-... (aws organizations describe-organization --query Organization.Id)" >&2; exit 1; }
endef
define check_hub_account
if [ -n "$(HUB_ACCOUNT_ID)" ]; then
  current=$$($(AWSR) sts get-caller-identity --query Account --output text)
  [ "$$current" = "$(HUB_ACCOUNT_ID)" ] || { echo "error: the credentials are for account $$current, not HUB_ACCOUNT_ID=$(HUB_ACCOUNT_ID): switch AWS_PROFILE" >&2; exit 1; }
fi
endef

# ---------------------------------------------------------------- shared steps (recipe fragments)

# $(call ensure_artifacts_bucket,REGION): sets $$bucket to <stack>-artifacts-<account>-<region>, created private.
define ensure_artifacts_bucket
account=$$($(AWS) --region $(1) sts get-caller-identity --query Account --output text)
bucket="$(STACK_NAME)-artifacts-$$account-$(1)"
if ! $(AWS) --region $(1) s3api head-bucket --bucket "$$bucket" >/dev/null 2>&1; then
  if [ "$(1)" = us-east-1 ]; then
    $(AWS) --region $(1) s3api create-bucket --bucket "$$bucket" >/dev/null
  else
    $(AWS) --region $(1) s3api create-bucket --bucket "$$bucket" --create-bucket-configuration LocationConstraint=$(1) >/dev/null
  fi
  $(AWS) --region $(1) s3api put-bucket-encryption --bucket "$$bucket" \
    --server-side-encryption-configuration '{"Rules":[{"ApplyServerSideEncryptionByDefault":{"SSEAlgorithm":"AES256"}}]}'
  $(AWS) --region $(1) s3api put-public-access-block --bucket "$$bucket" --public-access-block-configuration \
    BlockPublicAcls=true,IgnorePublicAcls=true,BlockPublicPolicy=true,RestrictPublicBuckets=true
fi
echo "    artifacts bucket s3://$$bucket"
endef

# $(call publish_layer,REGION): sets $$layer_arn, publishing a new version only when the zip changed.
define publish_layer
read -r layer_sha layer_key < <($(PYTHON) local/build.py sha256 "$(LAYER_ZIP)" --prefix layers/qscanner)
latest=$$($(AWS) --region $(1) lambda list-layer-versions --layer-name $(LAYER_NAME) --query 'max_by(LayerVersions, &Version).Version' --output text 2>/dev/null || true)
current_sha=""
if [[ "$$latest" =~ ^[0-9]+$$ ]]; then
  current_sha=$$($(AWS) --region $(1) lambda get-layer-version --layer-name $(LAYER_NAME) --version-number "$$latest" --query Content.CodeSha256 --output text)
fi
if [ "$$current_sha" = "$$layer_sha" ]; then
  layer_arn=$$($(AWS) --region $(1) lambda get-layer-version --layer-name $(LAYER_NAME) --version-number "$$latest" --query LayerVersionArn --output text)
else
  $(AWS) --region $(1) s3 cp "$(LAYER_ZIP)" "s3://$$bucket/$$layer_key" --sse AES256 --only-show-errors
  layer_arn=$$($(AWS) --region $(1) lambda publish-layer-version --layer-name $(LAYER_NAME) \
    --description "Qualys QScanner at /opt/bin/qscanner" --content "S3Bucket=$$bucket,S3Key=$$layer_key" \
    --compatible-runtimes python3.11 python3.12 --query LayerVersionArn --output text)
fi
echo "    layer $$layer_arn"
endef

# $(call upload_code,REGION): sets $$code_key (content-hashed, so a new zip is a new stack parameter).
define upload_code
read -r code_sha code_key < <($(PYTHON) local/build.py sha256 "$(CODE_ZIP)" --prefix scanner-lambda)
$(AWS) --region $(1) s3 cp "$(CODE_ZIP)" "s3://$$bucket/$$code_key" --sse AES256 --only-show-errors
echo "    code s3://$$bucket/$$code_key"
endef

# $(call store_secret,REGION,SECRET NAME,EXTRA create-secret ARGS): sets $$secret_arn. The token goes from the
# environment to a 0600 file through a helper's stdout: never an argument of any process.
define store_secret
secret_file=$$(mktemp)
$(PYTHON) local/build.py secret-json --pod "$(QUALYS_POD)" >"$$secret_file"
if secret_arn=$$($(AWS) --region $(1) secretsmanager describe-secret --secret-id "$(2)" --query ARN --output text 2>/dev/null); then
  $(AWS) --region $(1) secretsmanager put-secret-value --secret-id "$$secret_arn" --secret-string "file://$$secret_file" >/dev/null
else
  secret_arn=$$($(AWS) --region $(1) secretsmanager create-secret --name "$(2)" $(3) \
    --description "Qualys pod and access token for the $(STACK_NAME) QScanner scanners" \
    --secret-string "file://$$secret_file" --query ARN --output text)
fi
rm -f "$$secret_file"
echo "    secret $$secret_arn"
endef

# $(call deploy_stack,TEMPLATE,STACK,PARAMETER FILE[,BUCKET]): cloudformation deploy; parameters come
# from a JSON file (["Key=Value", ...]) so no value (ExternalId) is ever on a command line. With BUCKET
# the template goes through S3 (past CloudFormation's 51,200-byte inline limit: see the Makefile).
define deploy_stack
deploy_log=$$(mktemp)
$(call stack_parameters,$(1),$(2),$(3))
if ! $(CFN_DEPLOY_ENV) $(AWSR) cloudformation deploy --template-file "$(1)" --stack-name "$(2)" $(if $(4),--s3-bucket "$(4)" --s3-prefix cloudformation) \
  --capabilities CAPABILITY_IAM CAPABILITY_NAMED_IAM --no-fail-on-empty-changeset \
  --parameter-overrides "file://$(3)" 2>&1 | tee "$$deploy_log"; then
  grep -q "No updates are to be performed" "$$deploy_log" || { rm -f "$$deploy_log"; exit 1; }
  echo "    no changes: the stack is up to date"
fi
rm -f "$$deploy_log"
endef

# $(call stack_output,STACK,OUTPUT KEY): prints one output of a stack.
stack_output = $(AWSR) cloudformation describe-stacks --stack-name "$(1)" --query "Stacks[0].Outputs[?OutputKey=='$(2)'].OutputValue | [0]" --output text

# $(call wait_stackset_operation,OPERATION ID VARIABLE)
define wait_stackset_operation
while :; do
  status=$$($(AWSR) cloudformation describe-stack-set-operation --stack-set-name "$(STACKSET_NAME)" --call-as $(CALL_AS) \
    --operation-id "$$$(1)" --query StackSetOperation.Status --output text)
  case "$$status" in
    SUCCEEDED) echo "    operation $$$(1): $$status"; break ;;
    FAILED|STOPPED) echo "error: StackSet operation $$$(1) $$status: aws cloudformation list-stack-set-operation-results --stack-set-name $(STACKSET_NAME) --operation-id $$$(1)" >&2; exit 1 ;;
    *) sleep 10 ;;
  esac
done
endef

# ---------------------------------------------------------------- centralized model

check-hub:
	@$(check_cli)
	$(check_token)
	$(check_external_id)
	$(check_org_or_accounts)
	$(check_inventory_regions)
	$(check_credentials)
	$(check_hub_account)

deploy-hub: check-hub layer package ## centralized: the hub (central bus, scan queue, scanner, results) in this security account; needs ORG_ID and/or SPOKE_ACCOUNT_IDS, EXTERNAL_ID
	@echo "==> hub artifacts in $(AWS_REGION)"
	$(call ensure_artifacts_bucket,$(AWS_REGION))
	$(call publish_layer,$(AWS_REGION))
	$(call upload_code,$(AWS_REGION))
	$(call store_secret,$(AWS_REGION),$(SECRET_NAME),)
	echo "==> stack $(HUB_STACK_NAME) in $(AWS_REGION)"
	params=$$(mktemp)
	trap 'rm -f "$$params"' EXIT
	HUB_PARAMS="QualysPod=$(QUALYS_POD) QualysSecretArn=$$secret_arn QScannerLayerArn=$$layer_arn CodeS3Bucket=$$bucket CodeS3Key=$$code_key OrganizationId=$(ORG_ID) AllowedAccountIds=$(SPOKE_ACCOUNT_IDS) SpokeRoleName=$(SPOKE_ROLE_NAME) InventoryRegions=$(INVENTORY_REGIONS) KmsKeyArn=$(KMS_KEY_ARN) $(PARAMETERS)" \
	  $(PYTHON) -c 'import json, os; print(json.dumps(os.environ["HUB_PARAMS"].split() + ["ExternalId=" + os.environ["EXTERNAL_ID"]]))' >"$$params"
	$(call deploy_stack,cloudformation/centralized-hub.yaml,$(HUB_STACK_NAME),$$params,$$bucket)
	$(call emulator_schedule_targets,$(HUB_STACK_NAME))
	bus=$$($(call stack_output,$(HUB_STACK_NAME),HubEventBusArn))
	role=$$($(call stack_output,$(HUB_STACK_NAME),ScannerRoleArn))
	if [[ "$$bus" != arn:* || "$$role" != arn:* ]]; then
	  # Same values from the resources (emulators such as moto do not compute change-set stacks' outputs).
	  resource() { $(AWSR) cloudformation describe-stack-resource --stack-name "$(HUB_STACK_NAME)" --logical-resource-id "$$1" --query StackResourceDetail.PhysicalResourceId --output text; }
	  bus=$$($(AWSR) events describe-event-bus --name "$(HUB_STACK_NAME)-hub" --query Arn --output text)
	  role=$$($(AWSR) iam get-role --role-name "$$(resource ScannerRole)" --query Role.Arn --output text)
	fi
	echo "hub ready. In each spoke account (same EXTERNAL_ID exported):"
	echo "  make deploy-spoke AWS_REGION=<region> HUB_BUS_ARN=$$bus HUB_ROLE_ARN=$$role"

check-spoke:
	@$(check_cli)
	$(check_external_id)
	[[ "$(HUB_BUS_ARN)" == arn:*:events:*:event-bus/* ]] || { echo "error: HUB_BUS_ARN is not set to the hub's bus ARN (output HubEventBusArn of make deploy-hub)" >&2; exit 1; }
	[[ "$(HUB_ROLE_ARN)" == arn:*:iam::*:role/* ]] || { echo "error: HUB_ROLE_ARN is not set to the hub scanner's role ARN (output ScannerRoleArn of make deploy-hub)" >&2; exit 1; }
	[ -n "$(SPOKE_ROLE_REGION)" ] || { echo "error: SPOKE_ROLE_REGION is empty: set it to the one region that creates the spoke role" >&2; exit 1; }
	$(check_credentials)

deploy-spoke: check-spoke ## centralized: forward this account's Lambda events to the hub and create the spoke role; needs HUB_BUS_ARN, HUB_ROLE_ARN, EXTERNAL_ID
	@echo "==> stack $(SPOKE_STACK_NAME) in $(AWS_REGION) (spoke role created in $(SPOKE_ROLE_REGION))"
	params=$$(mktemp)
	trap 'rm -f "$$params"' EXIT
	SPOKE_PARAMS="HubEventBusArn=$(HUB_BUS_ARN) HubScannerRoleArn=$(HUB_ROLE_ARN) SpokeRoleName=$(SPOKE_ROLE_NAME) SpokeRoleRegion=$(SPOKE_ROLE_REGION) CreateCloudTrail=$(SPOKE_CREATE_TRAIL) EnableSecurityHub=$(SPOKE_SECURITY_HUB)" \
	  $(PYTHON) -c 'import json, os; print(json.dumps(os.environ["SPOKE_PARAMS"].split() + ["ExternalId=" + os.environ["EXTERNAL_ID"]]))' >"$$params"
	$(call deploy_stack,cloudformation/centralized-spoke.yaml,$(SPOKE_STACK_NAME),$$params)
	echo "spoke ready: Lambda changes in $(AWS_REGION) are now scanned by the hub."

# ---------------------------------------------------------------- StackSet model

check-stackset:
	@$(check_cli)
	$(check_token)
	$(check_org)
	[ -n "$(strip $(OU_IDS))" ] || { echo "error: OU_IDS is not set: run make deploy-stackset OU_IDS=\"ou-xxxx-yyyyyyyy ...\" (aws organizations list-organizational-units-for-parent)" >&2; exit 1; }
	[ -n "$(strip $(REGIONS))" ] || { echo "error: REGIONS is empty: run make deploy-stackset REGIONS=\"us-east-1 eu-west-1\"" >&2; exit 1; }
	$(check_credentials)

deploy-stackset: check-stackset layer package ## StackSet: share layer, code and secret with ORG_ID in each of REGIONS, then deploy stackset.yaml to OU_IDS
	@work=$$(mktemp -d)
	trap 'rm -rf "$$work"' EXIT
	org_reader='{"StringEquals":{"aws:PrincipalOrgID":"$(ORG_ID)"},"ArnLike":{"aws:PrincipalArn":"arn:*:iam::*:role/StackSet-$(STACKSET_NAME)-*"}}'
	for region in $(REGIONS); do
	  echo "==> shared artifacts in $$region"
	  $(call ensure_artifacts_bucket,$$region)
	  # Member accounts' CloudFormation reads the code: s3:GetObject for the organisation only.
	  $(AWS) --region $$region s3api put-bucket-policy --bucket "$$bucket" --policy "{\"Version\":\"2012-10-17\",\"Statement\":[{\"Sid\":\"OrganizationReadsCode\",\"Effect\":\"Allow\",\"Principal\":\"*\",\"Action\":\"s3:GetObject\",\"Resource\":\"arn:aws:s3:::$$bucket/*\",\"Condition\":{\"StringEquals\":{\"aws:PrincipalOrgID\":\"$(ORG_ID)\"}}}]}"
	  $(call publish_layer,$$region)
	  version=$${layer_arn##*:}
	  $(AWS) --region $$region lambda add-layer-version-permission --layer-name $(LAYER_NAME) --version-number "$$version" \
	    --statement-id organization-reads-layer --action lambda:GetLayerVersion --principal '*' --organization-id $(ORG_ID) \
	    >/dev/null 2>&1 || true   # already granted on this version
	  $(call upload_code,$$region)
	  # A customer managed key the organisation's scanner roles may decrypt with, via Secrets Manager only.
	  key_arn=$$($(AWS) --region $$region kms describe-key --key-id "$(ORG_SECRET_KEY_ALIAS)" --query KeyMetadata.Arn --output text 2>/dev/null || true)
	  if [[ "$$key_arn" != arn:* ]]; then
	    key_arn=$$($(AWS) --region $$region kms create-key --description "Qualys secret shared with $(ORG_ID)" \
	      --policy "{\"Version\":\"2012-10-17\",\"Statement\":[{\"Sid\":\"AccountAdministersKey\",\"Effect\":\"Allow\",\"Principal\":{\"AWS\":\"arn:aws:iam::$$account:root\"},\"Action\":\"kms:*\",\"Resource\":\"*\"},{\"Sid\":\"OrganizationScannersDecryptViaSecretsManager\",\"Effect\":\"Allow\",\"Principal\":\"*\",\"Action\":\"kms:Decrypt\",\"Resource\":\"*\",\"Condition\":{\"StringEquals\":{\"aws:PrincipalOrgID\":\"$(ORG_ID)\",\"kms:ViaService\":\"secretsmanager.$$region.amazonaws.com\"},\"ArnLike\":{\"aws:PrincipalArn\":\"arn:*:iam::*:role/StackSet-$(STACKSET_NAME)-*\"}}}]}" \
	      --query KeyMetadata.Arn --output text)
	    $(AWS) --region $$region kms enable-key-rotation --key-id "$$key_arn"
	    $(AWS) --region $$region kms create-alias --alias-name "$(ORG_SECRET_KEY_ALIAS)" --target-key-id "$$key_arn"
	  fi
	  $(call store_secret,$$region,$(ORG_SECRET_NAME),--kms-key-id "$$key_arn")
	  $(AWS) --region $$region secretsmanager put-resource-policy --secret-id "$$secret_arn" --block-public-policy \
	    --resource-policy "{\"Version\":\"2012-10-17\",\"Statement\":[{\"Sid\":\"OrganizationScannersRead\",\"Effect\":\"Allow\",\"Principal\":\"*\",\"Action\":\"secretsmanager:GetSecretValue\",\"Resource\":\"*\",\"Condition\":$$org_reader}]}" >/dev/null
	  echo "QualysSecretArn=$$secret_arn QualysSecretKmsKeyArn=$$key_arn QScannerLayerArn=$$layer_arn CodeS3Bucket=$$bucket" >"$$work/$$region"
	done
	echo "==> StackSet $(STACKSET_NAME) (service-managed, OUs $(OU_IDS))"
	first=$(firstword $(REGIONS))
	# Through S3: CloudFormation takes at most 51,200 bytes inline (see the Makefile).
	template_bucket=$$(sed -n 's/.*CodeS3Bucket=\([^ ]*\).*/\1/p' "$$work/$$first")
	$(AWS) --region $$first s3 cp cloudformation/stackset.yaml "s3://$$template_bucket/cloudformation/stackset.yaml" --only-show-errors
	template_url="https://$$template_bucket.s3.$$first.amazonaws.com/cloudformation/stackset.yaml"
	STACK_PARAMS="QualysPod=$(QUALYS_POD) CodeS3Key=$$code_key $$(cat "$$work/$$first") $(PARAMETERS)" \
	  $(PYTHON) -c 'import json, os; print(json.dumps([dict(zip(("ParameterKey", "ParameterValue"), p.split("=", 1))) for p in os.environ["STACK_PARAMS"].split()]))' >"$$work/params.json"
	if $(AWSR) cloudformation describe-stack-set --stack-set-name "$(STACKSET_NAME)" --call-as $(CALL_AS) >/dev/null 2>&1; then
	  op=$$($(AWSR) cloudformation update-stack-set --stack-set-name "$(STACKSET_NAME)" --call-as $(CALL_AS) \
	    --template-url "$$template_url" --parameters "file://$$work/params.json" --capabilities CAPABILITY_IAM \
	    --operation-preferences RegionConcurrencyType=PARALLEL,FailureTolerancePercentage=0,MaxConcurrentPercentage=100 \
	    --query OperationId --output text)
	  $(call wait_stackset_operation,op)
	else
	  $(AWSR) cloudformation create-stack-set --stack-set-name "$(STACKSET_NAME)" --call-as $(CALL_AS) \
	    --template-url "$$template_url" --parameters "file://$$work/params.json" --capabilities CAPABILITY_IAM \
	    --permission-model SERVICE_MANAGED --auto-deployment Enabled=true,RetainStacksOnAccountRemoval=false >/dev/null
	fi
	for region in $(REGIONS); do
	  # The layer, code bucket, secret and key are regional: per-region parameter overrides. All the
	  # parameters are overridden (AWS merges overrides with the StackSet's values; moto replaces them).
	  REGION_PARAMS="QualysPod=$(QUALYS_POD) CodeS3Key=$$code_key $$(cat "$$work/$$region") $(PARAMETERS)" \
	    $(PYTHON) -c 'import json, os; print(json.dumps([dict(zip(("ParameterKey", "ParameterValue"), p.split("=", 1))) for p in os.environ["REGION_PARAMS"].split()]))' >"$$work/overrides.json"
	  existing=$$($(AWSR) cloudformation list-stack-instances --stack-set-name "$(STACKSET_NAME)" --call-as $(CALL_AS) \
	    --query "length(Summaries[?Region=='$$region'])" --output text)
	  action=create-stack-instances
	  [ "$$existing" = 0 ] || action=update-stack-instances
	  echo "==> $$action in $$region"
	  op=$$($(AWSR) cloudformation $$action --stack-set-name "$(STACKSET_NAME)" --call-as $(CALL_AS) \
	    --deployment-targets "OrganizationalUnitIds=$(subst $(space),$(comma),$(strip $(OU_IDS)))" --regions "$$region" \
	    --parameter-overrides "file://$$work/overrides.json" \
	    --operation-preferences FailureTolerancePercentage=10,MaxConcurrentPercentage=25 --query OperationId --output text)
	  $(call wait_stackset_operation,op)
	done
	echo "StackSet $(STACKSET_NAME) deployed to OUs $(OU_IDS) in $(REGIONS); new accounts in those OUs get it automatically."


# ---------------------------------------------------------------- uninstall (PURGE=1: also what is kept)

delete-hub: check-aws ## centralized: delete the hub stack in AWS_REGION; PURGE=1 also its results bucket and, unless make deploy's stack uses them, the secret, artifacts bucket and layer
	@$(call delete_stack,$(HUB_STACK_NAME),$(STACK_NAME))

delete-spoke: check-aws ## centralized: delete this account's spoke stack in AWS_REGION; PURGE=1 also its trail bucket, if it made one
	@$(call delete_stack,$(SPOKE_STACK_NAME),)

delete-stackset: check-aws ## StackSet: delete the instances in OU_IDS x REGIONS, then the StackSet; PURGE=1 also the shared artifacts, secret and key in each region
	@[ -n "$(strip $(OU_IDS))" ] || { echo "error: OU_IDS is not set: the OUs the StackSet was deployed to (make delete-stackset OU_IDS=\"ou-...\")" >&2; exit 1; }
	if [ -n "$(PURGE)" ]; then
	  echo "==> PURGE=1: after the StackSet, in each of $(REGIONS), these are deleted for good:"
	  echo "    bucket $(STACK_NAME)-artifacts-<account>-<region> (every object version), secret $(ORG_SECRET_NAME) (no recovery window),"
	  echo "    every version of the layer $(LAYER_NAME), the key $(ORG_SECRET_KEY_ALIAS) (scheduled for deletion in $(KMS_PENDING_DAYS) days)"
	  echo "    Member accounts keep their results buckets (DeletionPolicy Retain): delete them from each account."
	fi
	if $(AWSR) cloudformation describe-stack-set --stack-set-name "$(STACKSET_NAME)" --call-as $(CALL_AS) >/dev/null 2>&1; then
	  echo "==> deleting the instances of StackSet $(STACKSET_NAME) in OUs $(OU_IDS), regions $(REGIONS)"
	  op=$$($(AWSR) cloudformation delete-stack-instances --stack-set-name "$(STACKSET_NAME)" --call-as $(CALL_AS) \
	    --deployment-targets "OrganizationalUnitIds=$(subst $(space),$(comma),$(strip $(OU_IDS)))" --regions $(REGIONS) \
	    --no-retain-stacks --operation-preferences FailureTolerancePercentage=10,MaxConcurrentPercentage=25 \
	    --query OperationId --output text)
	  $(call wait_stackset_operation,op)
	  $(AWSR) cloudformation delete-stack-set --stack-set-name "$(STACKSET_NAME)" --call-as $(CALL_AS)
	  echo "deleted StackSet $(STACKSET_NAME)."
	else
	  echo "no StackSet $(STACKSET_NAME): nothing to delete"
	fi
	if [ -z "$(PURGE)" ]; then
	  echo "Kept on purpose (PURGE=1 removes them): in each region, the bucket $(STACK_NAME)-artifacts-<account>-<region>,"
	  echo "the secret $(ORG_SECRET_NAME), its key $(ORG_SECRET_KEY_ALIAS) and the $(LAYER_NAME) layer versions."
	  exit 0
	fi
	for region in $(REGIONS); do
	  echo "==> purging the shared artifacts in $$region"
	  $(MAKE) --no-print-directory purge-artifacts AWS_REGION=$$region SECRET_NAME="$(ORG_SECRET_NAME)"
	  key=$$($(AWS) --region $$region kms describe-key --key-id "$(ORG_SECRET_KEY_ALIAS)" --query KeyMetadata.KeyId --output text 2>/dev/null || true)
	  if [ -n "$$key" ] && [ "$$key" != None ]; then
	    $(AWS) --region $$region kms delete-alias --alias-name "$(ORG_SECRET_KEY_ALIAS)"
	    $(AWS) --region $$region kms schedule-key-deletion --key-id "$$key" --pending-window-in-days $(KMS_PENDING_DAYS) >/dev/null
	    echo "    key $$key scheduled for deletion in $(KMS_PENDING_DAYS) days"
	  fi
	done
