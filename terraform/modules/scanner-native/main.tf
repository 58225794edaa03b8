# The resources of cloudformation/single-account-native.yaml for one account and one region; the
# CloudFormation logical id of each counterpart is named in a comment above it.

data "aws_partition" "current" {}
data "aws_caller_identity" "current" {}
data "aws_region" "current" {}

locals {
  partition  = data.aws_partition.current.partition
  account_id = data.aws_caller_identity.current.account_id
  region     = data.aws_region.current.name

  function_name = "${var.name}-scanner"
  # A fixed name so the trail bucket policy can name the trail's ARN before the trail exists.
  trail_name = "${var.name}-qscanner"
  trail_arn  = "arn:${local.partition}:cloudtrail:${local.region}:${local.account_id}:trail/${local.trail_name}"

  inventory_enabled = var.inventory_schedule != ""

  qualys_secret_arn = var.qualys_secret_arn != "" ? var.qualys_secret_arn : aws_secretsmanager_secret.qualys[0].arn

  # The eight CloudTrail rules: CloudFormation's CreateFunctionRule, UpdateFunctionCodeRule,
  # UpdateFunctionConfigurationRule, DeleteFunctionRule, PublishVersionRule, CreateAliasRule,
  # UpdateAliasRule and DeleteAliasRule. Successful calls only (no errorCode); they feed the scan queue (a deletion retires the function's findings and cache item).
  rules = {
    create_function = {
      event_name  = "CreateFunction20150331"
      description = "Scan a Lambda function when it is created."
    }
    update_function_code = {
      event_name  = "UpdateFunctionCode20150331v2"
      description = "Scan a Lambda function when its code changes."
    }
    update_function_configuration = {
      event_name  = "UpdateFunctionConfiguration20150331v2"
      description = "Scan a Lambda function when its configuration (e.g. layers) changes."
    }
    delete_function = {
      event_name  = "DeleteFunction20150331"
      description = "Archive a deleted Lambda function's findings and forget its scan."
    }
    # Published versions behind aliases are targets too (issue 22).
    publish_version = {
      event_name  = "PublishVersion20150331"
      description = "Scan a published Lambda function version when an alias points to it."
    }
    create_alias = {
      event_name  = "CreateAlias20150331"
      description = "Scan the versions a new Lambda alias points to."
    }
    update_alias = {
      event_name  = "UpdateAlias20150331"
      description = "Scan the versions a Lambda alias now points to; retire the versions it left."
    }
    delete_alias = {
      event_name  = "DeleteAlias20150331"
      description = "Retire the findings of the versions a deleted Lambda alias was the last to point to."
    }
  }
}

# ---------------------------------------------------------------- handler code and QScanner layer

resource "aws_s3_object" "layer" {
  count = var.layer_s3_bucket != "" ? 1 : 0

  bucket                 = var.layer_s3_bucket
  key                    = "layers/qscanner/${filesha256(var.layer_zip_path)}.zip"
  source                 = var.layer_zip_path
  source_hash            = filemd5(var.layer_zip_path)
  server_side_encryption = "AES256"
}

resource "aws_lambda_layer_version" "qscanner" {
  layer_name          = "${var.name}-qscanner"
  description         = "Qualys QScanner at /opt/bin/qscanner"
  compatible_runtimes = ["python3.11", "python3.12"]
  source_code_hash    = filebase64sha256(var.layer_zip_path)

  filename  = var.layer_s3_bucket == "" ? var.layer_zip_path : null
  s3_bucket = var.layer_s3_bucket != "" ? aws_s3_object.layer[0].bucket : null
  s3_key    = var.layer_s3_bucket != "" ? aws_s3_object.layer[0].key : null
}

# ---------------------------------------------------------------- Qualys secret (only when not given)

# Created WITHOUT a value: there is deliberately no aws_secretsmanager_secret_version, so the access
# token never enters the Terraform state or plan. Set it with
# `aws secretsmanager put-secret-value --secret-id <arn> --secret-string file://secret.json`.
resource "aws_secretsmanager_secret" "qualys" {
  #checkov:skip=CKV_AWS_149:The AWS managed key encrypts it unless kms_key_arn is set (a customer managed key is optional, which this check cannot see through the conditional); the role may read this secret only.
  #checkov:skip=CKV2_AWS_57:The Qualys token is issued and rotated in the Qualys portal; Secrets Manager has no rotation function for it, so rotation here would break the token.
  count = var.qualys_secret_arn == "" ? 1 : 0

  name        = "${var.name}/qualys"
  kms_key_id  = var.kms_key_arn != "" ? var.kms_key_arn : null
  description = "Qualys pod and access token for the ${var.name} QScanner scanner"
}
