# Multi-account targets, included by the main Makefile (which defines AWS, AWSR, AWS_REGION, STACK_NAME,
# QUALYS_POD, REGIONS, SECRET_NAME, PARAMETERS, LAYER_ZIP, CODE_ZIP, LAYER_NAME, PYTHON, check_cli,
# check_token, check_credentials and the layer / package targets) after mk/deploy-steps.mk (the steps
# shared with make deploy) and mk/emulator.mk. README.md, "Multi-account deployments", explains both models.
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

# ---------------------------------------------------------------- StackSet operations

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
	@$(check_parameters)
	$(call ensure_artifacts_bucket,$(AWS_REGION))
	$(call publish_layer,$(AWS_REGION))
	$(call upload_code,$(AWS_REGION))
	$(call store_secret,$(AWS_REGION),$(SECRET_NAME),)
	params=$$(mktemp)
	trap 'rm -f "$$params"' EXIT
	$(PYTHON) -m local.stack_parameters "QualysPod=$(QUALYS_POD)" "QualysSecretArn=$$secret_arn" "QScannerLayerArn=$$layer_arn" \
	  "CodeS3Bucket=$$bucket" "CodeS3Key=$$code_key" "OrganizationId=$(ORG_ID)" "AllowedAccountIds=$(SPOKE_ACCOUNT_IDS)" \
	  "SpokeRoleName=$(SPOKE_ROLE_NAME)" "InventoryRegions=$(INVENTORY_REGIONS)" "KmsKeyArn=$(KMS_KEY_ARN)" \
	  --value-from-env ExternalId=EXTERNAL_ID --parameters-env PARAMETERS >"$$params"
	$(call deploy_stack,cloudformation/centralized-hub.yaml,$(HUB_STACK_NAME),$$params,$$bucket)
	$(call emulator_schedule_targets,$(HUB_STACK_NAME))
	bus=$$($(call stack_output,$(HUB_STACK_NAME),HubEventBusArn))
	role=$$($(call stack_output,$(HUB_STACK_NAME),ScannerRoleArn))
	$(call emulator_hub_outputs,$(HUB_STACK_NAME))
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
	@echo "==> spoke role created in $(SPOKE_ROLE_REGION)"
	params=$$(mktemp)
	trap 'rm -f "$$params"' EXIT
	$(PYTHON) -m local.stack_parameters "HubEventBusArn=$(HUB_BUS_ARN)" "HubScannerRoleArn=$(HUB_ROLE_ARN)" \
	  "SpokeRoleName=$(SPOKE_ROLE_NAME)" "SpokeRoleRegion=$(SPOKE_ROLE_REGION)" "CreateCloudTrail=$(SPOKE_CREATE_TRAIL)" \
	  "EnableSecurityHub=$(SPOKE_SECURITY_HUB)" --value-from-env ExternalId=EXTERNAL_ID >"$$params"
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
	@$(check_parameters)
	work=$$(mktemp -d)
	trap 'rm -rf "$$work"' EXIT
	org_reader='{"StringEquals":{"aws:PrincipalOrgID":"$(ORG_ID)"},"ArnLike":{"aws:PrincipalArn":"arn:*:iam::*:role/StackSet-$(STACKSET_NAME)-*"}}'
	for region in $(REGIONS); do
	  echo "######## shared artifacts in $$region"
	  $(call ensure_artifacts_bucket,$$region)
	  # Member accounts' CloudFormation reads the code: s3:GetObject for the organisation only.
	  $(AWS) --region $$region s3api put-bucket-policy --bucket "$$bucket" --expected-bucket-owner "$$account" --policy "{\"Version\":\"2012-10-17\",\"Statement\":[{\"Sid\":\"OrganizationReadsCode\",\"Effect\":\"Allow\",\"Principal\":\"*\",\"Action\":\"s3:GetObject\",\"Resource\":\"arn:$$partition:s3:::$$bucket/*\",\"Condition\":{\"StringEquals\":{\"aws:PrincipalOrgID\":\"$(ORG_ID)\"}}}]}"
	  $(call publish_layer,$$region)
	  echo "$${layer_arn##*:}" >"$$work/$$region.layer"
	  $(call upload_code,$$region)
	  # A customer managed key the organisation's scanner roles may decrypt with, via Secrets Manager only.
	  key_arn=$$($(AWS) --region $$region kms describe-key --key-id "$(ORG_SECRET_KEY_ALIAS)" --query KeyMetadata.Arn --output text 2>/dev/null || true)
	  if [[ "$$key_arn" != arn:* ]]; then
	    key_arn=$$($(AWS) --region $$region kms create-key --description "Qualys secret shared with $(ORG_ID)" \
	      --policy "{\"Version\":\"2012-10-17\",\"Statement\":[{\"Sid\":\"AccountAdministersKey\",\"Effect\":\"Allow\",\"Principal\":{\"AWS\":\"arn:$$partition:iam::$$account:root\"},\"Action\":\"kms:*\",\"Resource\":\"*\"},{\"Sid\":\"OrganizationScannersDecryptViaSecretsManager\",\"Effect\":\"Allow\",\"Principal\":\"*\",\"Action\":\"kms:Decrypt\",\"Resource\":\"*\",\"Condition\":{\"StringEquals\":{\"aws:PrincipalOrgID\":\"$(ORG_ID)\",\"kms:ViaService\":\"secretsmanager.$$region.$$url_suffix\"},\"ArnLike\":{\"aws:PrincipalArn\":\"arn:*:iam::*:role/StackSet-$(STACKSET_NAME)-*\"}}}]}" \
	      --query KeyMetadata.Arn --output text)
	    $(AWS) --region $$region kms enable-key-rotation --key-id "$$key_arn"
	    $(AWS) --region $$region kms create-alias --alias-name "$(ORG_SECRET_KEY_ALIAS)" --target-key-id "$$key_arn"
	  fi
	  $(call store_secret,$$region,$(ORG_SECRET_NAME),--kms-key-id "$$key_arn")
	  $(AWS) --region $$region secretsmanager put-resource-policy --secret-id "$$secret_arn" --block-public-policy \
	    --resource-policy "{\"Version\":\"2012-10-17\",\"Statement\":[{\"Sid\":\"OrganizationScannersRead\",\"Effect\":\"Allow\",\"Principal\":\"*\",\"Action\":\"secretsmanager:GetSecretValue\",\"Resource\":\"*\",\"Condition\":$$org_reader}]}" >/dev/null
	done
	# The StackSet's values hold in every region, so an account that joins an OU later (auto-deployment)
	# gets its own region's artefacts: stack instance overrides would not reach it (CloudFormation API
	# Reference, UpdateStackInstances, DeploymentTargets: "Accounts added to the target OUs and their
	# child OUs in the future won't use the overridden values"). stackset.yaml derives the bucket, layer,
	# secret and key of its region from these names; the layer version must then be one number in every
	# region, so a region behind publishes the same zip again until it catches up.
	layer_version=$$(sort -n "$$work"/*.layer | tail -n 1)
	for region in $(REGIONS); do
	  bucket="$(STACK_NAME)-artifacts-$$account-$$region"
	  version=$$(cat "$$work/$$region.layer")
	  while [ "$$version" -lt "$$layer_version" ]; do
	    $(call upload,$$region,$(LAYER_ZIP),$$layer_key)
	    $(call publish_layer_version,$$region)
	    version=$${layer_arn##*:}
	    echo "    $$region: published $$layer_arn (the same version number in every region)"
	  done
	  $(AWS) --region $$region lambda add-layer-version-permission --layer-name $(LAYER_NAME) --version-number "$$layer_version" \
	    --statement-id organization-reads-layer --action lambda:GetLayerVersion --principal '*' --organization-id $(ORG_ID) \
	    >/dev/null 2>&1 || true   # already granted on this version
	done
	echo "==> StackSet $(STACKSET_NAME) (service-managed, OUs $(OU_IDS))"
	first=$(firstword $(REGIONS))
	# Through S3: CloudFormation takes at most 51,200 bytes inline (see mk/deploy-steps.mk).
	bucket="$(STACK_NAME)-artifacts-$$account-$$first"
	$(call upload,$$first,cloudformation/stackset.yaml,cloudformation/stackset.yaml)
	template_url="https://$$bucket.s3.$$first.$$url_suffix/cloudformation/stackset.yaml"
	$(PYTHON) -m local.stack_parameters --format stackset "QualysPod=$(QUALYS_POD)" "CodeS3Key=$$code_key" \
	  "ArtifactsAccountId=$$account" "ArtifactsName=$(STACK_NAME)" "QScannerLayerVersion=$$layer_version" \
	  "QualysSecretName=$(ORG_SECRET_NAME)" --parameters-env PARAMETERS >"$$work/params.json"
	if $(AWSR) cloudformation describe-stack-set --stack-set-name "$(STACKSET_NAME)" --call-as $(CALL_AS) >/dev/null 2>&1; then
	  # Updates every instance; none has parameter overrides.
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
	  existing=$$($(AWSR) cloudformation list-stack-instances --stack-set-name "$(STACKSET_NAME)" --call-as $(CALL_AS) \
	    --query "length(Summaries[?Region=='$$region'])" --output text)
	  [ "$$existing" = 0 ] || continue
	  echo "==> create-stack-instances in $$region"
	  op=$$($(AWSR) cloudformation create-stack-instances --stack-set-name "$(STACKSET_NAME)" --call-as $(CALL_AS) \
	    --deployment-targets "OrganizationalUnitIds=$(subst $(space),$(comma),$(strip $(OU_IDS)))" --regions "$$region" \
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
