# The centralized model (`make deploy-hub` and `make deploy-spoke`'s counterpart): the hub (central bus,
# scan queue, scanner, results) from cloudformation/centralized-hub.yaml in the security account, and
# a spoke from cloudformation/centralized-spoke.yaml in a scanned account. Build first:
# `make layer package`. More spokes: a provider and a scanner-spoke module block per account and region.

terraform {
  required_version = ">= 1.5.0"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.46"
    }
  }
}

provider "aws" {
  alias  = "hub"
  region = var.aws_region

  default_tags {
    tags = { Project = "qualys-lambda" }
  }
}

# The scanned account: a profile of your AWS configuration (empty: the hub's credentials, one account).
provider "aws" {
  alias   = "spoke"
  region  = var.aws_region
  profile = var.spoke_profile != "" ? var.spoke_profile : null

  default_tags {
    tags = { Project = "qualys-lambda" }
  }
}

module "artifacts" {
  source    = "../../modules/scanner-artifacts"
  providers = { aws = aws.hub }

  name              = var.name
  layer_zip_path    = var.layer_zip_path
  code_zip_path     = var.code_zip_path
  template_paths    = ["${path.root}/../../../cloudformation/centralized-hub.yaml"]
  qualys_secret_arn = var.qualys_secret_arn
}

module "hub" {
  source    = "../../modules/scanner-hub"
  providers = { aws = aws.hub }

  name                = "${var.name}-hub"
  template_url        = module.artifacts.template_urls["centralized-hub.yaml"]
  artifacts           = module.artifacts.stack_parameters
  qualys_pod          = var.qualys_pod
  external_id         = var.external_id
  organization_id     = var.organization_id
  allowed_account_ids = var.spoke_account_ids
  parameters          = var.hub_parameters
}

module "spoke" {
  source    = "../../modules/scanner-spoke"
  providers = { aws = aws.spoke }

  name                 = "${var.name}-spoke"
  hub_event_bus_arn    = module.hub.hub_event_bus_arn
  hub_scanner_role_arn = module.hub.scanner_role_arn
  external_id          = var.external_id
  spoke_role_region    = var.aws_region
}
