# The centralized model's hub: cloudformation/centralized-hub.yaml as one stack, as `make deploy-hub`
# deploys it. The template is the one definition of the hub's resources; this module only passes it
# the artifacts (module scanner-artifacts) and the hub's settings.

resource "aws_cloudformation_stack" "hub" {
  #checkov:skip=CKV_AWS_124:Terraform waits for the stack and reports its failure with the stack's events; the scanner's own alarms notify its SNS topic.
  name = var.name
  # By URL: the template exceeds CloudFormation's 51,200-byte inline limit.
  template_url = var.template_url
  capabilities = ["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM"]

  parameters = merge(var.parameters, var.artifacts, {
    QualysPod         = var.qualys_pod
    OrganizationId    = var.organization_id
    AllowedAccountIds = join(",", var.allowed_account_ids)
    SpokeRoleName     = var.spoke_role_name
    InventoryRegions  = join(",", var.inventory_regions)
    ExternalId        = var.external_id
  })
}
