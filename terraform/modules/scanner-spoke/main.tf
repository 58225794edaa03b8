# The centralized model's spoke, in each account the hub scans: cloudformation/centralized-spoke.yaml
# as one stack, as `make deploy-spoke` deploys it (rules forwarding to the hub's bus, the spoke role).

resource "aws_cloudformation_stack" "spoke" {
  #checkov:skip=CKV_AWS_124:Terraform waits for the stack and reports its failure with the stack's events; the scanner's own alarms notify its SNS topic.
  name = var.name
  # Inline: this template is under CloudFormation's 51,200-byte limit.
  template_body = file(var.template_path != "" ? var.template_path : "${path.module}/../../../cloudformation/centralized-spoke.yaml")
  capabilities  = ["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM"]

  parameters = {
    HubEventBusArn    = var.hub_event_bus_arn
    HubScannerRoleArn = var.hub_scanner_role_arn
    ExternalId        = var.external_id
    SpokeRoleName     = var.spoke_role_name
    SpokeRoleRegion   = var.spoke_role_region
    CreateCloudTrail  = tostring(var.create_cloudtrail)
    EnableSecurityHub = tostring(var.enable_security_hub)
  }
}
