# The StackSet model (`make deploy-stackset`'s counterpart): from the organization's management
# account (or a delegated StackSets administrator), the shared artifacts in every region and one
# service-managed StackSet of cloudformation/stackset.yaml whose instances give each account of the
# OUs its own scanner in each region. Build first: `make layer package`. To add a region, add a
# provider alias, an artifacts module block and its entry in regional_artifacts. Every region's
# artifacts have the same names and QScanner layer version: the StackSet passes one set of values to
# every instance, no overrides (modules/scanner-stackset).

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
  alias  = "us_east_1"
  region = "us-east-1"

  default_tags {
    tags = { Project = "qualys-lambda" }
  }
}

provider "aws" {
  alias  = "eu_west_1"
  region = "eu-west-1"

  default_tags {
    tags = { Project = "qualys-lambda" }
  }
}

module "artifacts_us_east_1" {
  source    = "../../modules/scanner-artifacts"
  providers = { aws = aws.us_east_1 }

  name              = var.name
  layer_zip_path    = var.layer_zip_path
  code_zip_path     = var.code_zip_path
  template_paths    = ["${path.root}/../../../cloudformation/stackset.yaml"]
  organization_id   = var.organization_id
  qualys_secret_arn = lookup(var.qualys_secret_arns, "us-east-1", "")
}

module "artifacts_eu_west_1" {
  source    = "../../modules/scanner-artifacts"
  providers = { aws = aws.eu_west_1 }

  name              = var.name
  layer_zip_path    = var.layer_zip_path
  code_zip_path     = var.code_zip_path
  organization_id   = var.organization_id
  qualys_secret_arn = lookup(var.qualys_secret_arns, "eu-west-1", "")
}

module "stackset" {
  source    = "../../modules/scanner-stackset"
  providers = { aws = aws.us_east_1 }

  name                    = var.name
  template_url            = module.artifacts_us_east_1.template_urls["stackset.yaml"]
  organizational_unit_ids = var.organizational_unit_ids
  call_as                 = var.call_as
  parameters              = merge(var.parameters, { QualysPod = var.qualys_pod })
  regional_artifacts = {
    "us-east-1" = module.artifacts_us_east_1.stackset_parameters
    "eu-west-1" = module.artifacts_eu_west_1.stackset_parameters
  }
}
