# One scanner in one region: the Terraform counterpart of `make deploy` with the CloudFormation
# template. Build the layer first (`make layer`), then `terraform init && terraform apply`.

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
  region = var.aws_region

  default_tags {
    tags = {
      Project = "qualys-lambda"
    }
  }
}

module "scanner" {
  source = "../../modules/scanner-native"

  name              = var.name
  qualys_pod        = var.qualys_pod
  qualys_secret_arn = var.qualys_secret_arn
  layer_zip_path    = var.layer_zip_path
  code_zip_path     = var.code_zip_path

  enable_s3_results        = var.enable_s3_results
  enable_sns_notifications = var.enable_sns_notifications
  notification_email       = var.notification_email
  enable_scan_cache        = var.enable_scan_cache
  cache_ttl_days           = var.cache_ttl_days
  create_cloudtrail        = var.create_cloudtrail
  scanner_memory_size      = var.scanner_memory_size
  scanner_timeout          = var.scanner_timeout
}
