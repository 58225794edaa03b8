# The StackSet model: cloudformation/stackset.yaml as a service-managed StackSet with instances in
# the given OUs and regions, as `make deploy-stackset` deploys it. The template is the one definition
# of the scanner's resources.
#
# Every instance takes the StackSet's own parameters, never overrides: an account that joins a target
# OU later is deployed with the StackSet's values only (AWS CloudFormation API Reference,
# UpdateStackInstances, DeploymentTargets: "Accounts added to the target OUs and their child OUs in the
# future won't use the overridden values"). The template therefore derives each region's artifacts
# from names that hold in every region (scanner-artifacts' stackset_parameters), and the QScanner
# layer version must be one number in every region. When it is not (a region had versions of the
# layer before), align it as `make deploy-stackset` does, by publishing again in the lagging region:
# `terraform apply -replace=<that region's module>.aws_lambda_layer_version.qscanner` publishes the
# next version there; repeat until the versions match. Or start every region afresh under a new name
# (scanner-artifacts' name).

locals {
  regions = sort(keys(var.regional_artifacts))
  first   = var.regional_artifacts[local.regions[0]]
  layer_versions = {
    for region, artifacts in var.regional_artifacts : region => artifacts.QScannerLayerVersion
  }
}

resource "aws_cloudformation_stack_set" "scanner" {
  name             = var.name
  description      = "Qualys QScanner scanner for Lambda functions, one per member account and region"
  template_url     = var.template_url
  permission_model = "SERVICE_MANAGED"
  call_as          = var.call_as
  capabilities     = ["CAPABILITY_IAM"]
  parameters       = merge(var.parameters, local.first)

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

    precondition {
      condition     = length(distinct(values(local.layer_versions))) == 1
      error_message = "The QScanner layer versions differ by region (${jsonencode(local.layer_versions)}), but stackset.yaml takes one QScannerLayerVersion for every region. Publish the layer in the lagging regions until their versions match (as make deploy-stackset does), or use a fresh name: see modules/scanner-stackset/main.tf."
    }

    precondition {
      condition     = alltrue([for artifacts in values(var.regional_artifacts) : artifacts == local.first])
      error_message = "The regions' artifacts must have the same account, name, secret name and code key: stackset.yaml derives each region's from one set of values."
    }
  }
}

resource "aws_cloudformation_stack_set_instance" "scanner" {
  for_each = toset(local.regions)

  stack_set_name = aws_cloudformation_stack_set.scanner.name
  region         = each.key
  call_as        = var.call_as
  retain_stack   = false

  deployment_targets {
    organizational_unit_ids = var.organizational_unit_ids
  }

  operation_preferences {
    failure_tolerance_percentage = 10
    max_concurrent_percentage    = 25
  }
}
