# What only a local emulator (moto, AWS_ENDPOINT_URL set) needs, kept out of the production recipes.
# Each is a $(call emulator_...) in a recipe; on AWS (AWS_ENDPOINT_URL empty) it is nothing, or the
# plain command it wraps, so a production recipe reads top to bottom.

ifeq ($(strip $(AWS_ENDPOINT_URL)),)

emulator_explicit_parameters =
emulator_cfn_deploy = $(1)
emulator_schedule_targets =
emulator_hub_outputs =
emulator_no_outputs = echo "    the stack reports no outputs"
emulator_scanner_name =

else

# An emulator: awscli and boto3 both send every call there.
export AWS_ENDPOINT_URL

# $(call emulator_explicit_parameters,TEMPLATE,STACK,FILE): every parameter of FILE made explicit
# (local/stack_parameters.py says why moto needs it).
define emulator_explicit_parameters
$(AWSR) cloudformation get-template-summary --template-body "file://$(1)" --query Parameters --output json >"$(3).template"
$(AWSR) cloudformation describe-stacks --stack-name "$(2)" --query 'Stacks[0].Parameters' --output json >"$(3).stack" 2>/dev/null || echo null >"$(3).stack"
$(PYTHON) -m local.stack_parameters --overrides-file "$(3)" --template-parameters "$(3).template" --stack-parameters "$(3).stack" >"$(3).full"
mv "$(3).full" "$(3)"
rm -f "$(3).template" "$(3).stack"
endef

# $(call emulator_cfn_deploy,COMMAND): two moto answers to `cloudformation deploy`.
# - `--s3-bucket` hands CloudFormation a path-style TemplateURL on the endpoint's host; moto reads such
#   a URL only when that host is "localhost", so an emulator on 127.0.0.1 is named so for this command.
# - moto answers an unchanged deploy with the error "No updates are to be performed" instead of an
#   empty change set.
define emulator_cfn_deploy
emulator_log=$$(mktemp)
if ! AWS_ENDPOINT_URL="$(subst 127.0.0.1,localhost,$(AWS_ENDPOINT_URL))" $(1) 2>&1 | tee "$$emulator_log"; then
  grep -q "No updates are to be performed" "$$emulator_log" || { rm -f "$$emulator_log"; exit 1; }
  echo "    no changes: the stack is up to date"
fi
rm -f "$$emulator_log"
endef

# $(call emulator_schedule_targets,STACK): detach the Lambda target of the stack's inventory schedule
# rule. moto fires no schedules, yet its PutEvents runs every event through a schedule-only rule (no
# pattern) and then raises NotImplementedError on a Lambda target: HTTP 500 for every put-events
# ("Force a scan"), each CLI retry queueing the request again.
define emulator_schedule_targets
rule=$$($(AWSR) cloudformation list-stack-resources --stack-name "$(1)" \
  --query "StackResourceSummaries[?LogicalResourceId=='InventoryScheduleRule'].PhysicalResourceId | [0]" --output text)
if [ -n "$$rule" ] && [ "$$rule" != None ]; then
  ids=$$($(AWSR) events list-targets-by-rule --rule "$$rule" --query "Targets[?contains(Arn, ':lambda:')].Id" --output text)
  if [ -n "$$ids" ] && [ "$$ids" != None ]; then
    $(AWSR) events remove-targets --rule "$$rule" --ids $$ids >/dev/null
    echo "    emulator: Lambda target of $$rule detached (moto fires no schedules and cannot invoke Lambda targets)"
  fi
fi
endef

# moto computes no outputs for stacks deployed through change sets: the same values from the resources.

# $(call emulator_hub_outputs,STACK): sets $$bus and $$role when the outputs did not.
define emulator_hub_outputs
if [[ "$$bus" != arn:* || "$$role" != arn:* ]]; then
  bus=$$($(AWSR) events describe-event-bus --name "$(1)-hub" --query Arn --output text)
  role_name=$$($(AWSR) cloudformation describe-stack-resource --stack-name "$(1)" --logical-resource-id ScannerRole \
    --query StackResourceDetail.PhysicalResourceId --output text)
  role=$$($(AWSR) iam get-role --role-name "$$role_name" --query Role.Arn --output text)
fi
endef

# $(call emulator_no_outputs,STACK): what `make outputs` prints instead: the stack's resources.
define emulator_no_outputs
echo "    the stack reports no outputs (an emulator may not compute them); its resources instead:"
$(AWSR) cloudformation list-stack-resources --stack-name "$(1)" \
  --query 'StackResourceSummaries[?LogicalResourceId].[LogicalResourceId,PhysicalResourceId]' --output text \
  | awk -F'\t' '{printf "    %-38s %s\n", $$1, $$2}'
endef

# $(call emulator_scanner_name,STACK): sets $$name from the ScannerFunction resource when the output did not.
define emulator_scanner_name
if [ -z "$$name" ] || [ "$$name" = None ]; then
  name=$$($(AWSR) cloudformation describe-stack-resource --stack-name "$(1)" \
    --logical-resource-id ScannerFunction --query StackResourceDetail.PhysicalResourceId --output text)
fi
endef

endif
