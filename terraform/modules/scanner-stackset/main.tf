# The StackSet model: cloudformation/stackset.yaml as a service-managed StackSet with instances in
# the given OUs and regions, as `make deploy-stackset` deploys it. The template is the one definition
# of the scanner's resources; this module passes it the per-region artifacts (scanner-artifacts,
# shared with the organization) as parameter overrides of each region's instances.

locals {
  regions = sort(keys(var.regional_parameters))
  # The StackSet's own values: the first region's, as make's; every instance overrides them all
  # (AWS merges overrides with these; moto replaces them, so every parameter is given).
  stackset_parameters = merge(var.parameters, var.regional_parameters[local.regions[0]])
}

resource "aws_cloudformation_stack_set" "scanner" {
  name             = var.name
  description      = "Qualys QScanner scanner for Lambda functions, one per member account and region"
  template_url     = var.template_url
  permission_model = "SERVICE_MANAGED"
  call_as          = var.call_as
  capabilities     = ["CAPABILITY_IAM"]
  parameters       = local.stackset_parameters

  # New accounts in the OUs get the scanner; leaving an OU removes it.
  auto_deployment {
    enabled                          = true
    retain_stacks_on_account_removal = false
  }

  operation_preferences {
    region_concurrency_type      = "PARALLEL"
    failure_tolerance_percentage = 0
    max_concurrent_percentage    = 100
  }

  lifecycle {
    # A service-managed StackSet has no administration role; AWS reports one anyway.
    ignore_changes = [administration_role_arn]
  }
}

resource "aws_cloudformation_stack_set_instance" "scanner" {
  for_each = var.regional_parameters

  stack_set_name      = aws_cloudformation_stack_set.scanner.name
  region              = each.key
  call_as             = var.call_as
  parameter_overrides = merge(var.parameters, each.value)
  retain_stack        = false

  deployment_targets {
    organizational_unit_ids = var.organizational_unit_ids
  }

  operation_preferences {
    failure_tolerance_percentage = 10
    max_concurrent_percentage    = 25
  }
}
