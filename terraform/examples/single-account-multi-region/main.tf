# One scanner per region in one account: a module instance per region, each with its own provider
# alias (Terraform cannot for_each over providers). EventBridge rules are regional, so each region
# needs its own scanner. Only the first instance may create the trail: it is multi-region already.
# To cover another region, add a provider alias and a module block like the ones below.

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
  alias  = "us_west_2"
  region = "us-west-2"

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

module "scanner_us_east_1" {
  source    = "../../modules/scanner-native"
  providers = { aws = aws.us_east_1 }

  name               = var.name
  qualys_pod         = var.qualys_pod
  qualys_secret_arn  = lookup(var.qualys_secret_arns, "us-east-1", "")
  layer_zip_path     = var.layer_zip_path
  code_zip_path      = var.code_zip_path
  notification_email = var.notification_email
  create_cloudtrail  = var.create_cloudtrail
}

module "scanner_us_west_2" {
  source    = "../../modules/scanner-native"
  providers = { aws = aws.us_west_2 }

  name               = var.name
  qualys_pod         = var.qualys_pod
  qualys_secret_arn  = lookup(var.qualys_secret_arns, "us-west-2", "")
  layer_zip_path     = var.layer_zip_path
  code_zip_path      = var.code_zip_path
  notification_email = var.notification_email
  create_cloudtrail  = false
}

module "scanner_eu_west_1" {
  source    = "../../modules/scanner-native"
  providers = { aws = aws.eu_west_1 }

  name               = var.name
  qualys_pod         = var.qualys_pod
  qualys_secret_arn  = lookup(var.qualys_secret_arns, "eu-west-1", "")
  layer_zip_path     = var.layer_zip_path
  code_zip_path      = var.code_zip_path
  notification_email = var.notification_email
  create_cloudtrail  = false
}
