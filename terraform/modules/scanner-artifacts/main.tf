# What make publishes beside a CloudFormation stack in one region (Makefile `deploy`,
# mk/multi-account.mk `ensure_artifacts_bucket`, `publish_layer`, `upload_code`, `store_secret` and, for
# an organization, `deploy-stackset`'s sharing): the artifacts bucket with the handler zip and the
# templates, the QScanner layer and the Qualys secret. The stacks take them as parameters.

data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}
data "aws_region" "current" {}

locals {
  account_id = data.aws_caller_identity.current.account_id
  partition  = data.aws_partition.current.partition
  region     = data.aws_region.current.name
  shared     = var.organization_id != ""
  # The member accounts' scanner roles, created by the StackSet's stacks (StackSet-<name>-*).
  org_scanner_roles = "arn:*:iam::*:role/StackSet-${var.name}-*"
  # make's name: <stack>-artifacts-<account>-<region>.
  bucket = "${var.name}-artifacts-${local.account_id}-${local.region}"
  # Content-hashed keys, as make's: a new zip or template is a new stack parameter or URL.
  code_key  = "scanner-lambda/${substr(filesha256(var.code_zip_path), 0, 20)}.zip"
  layer_key = "layers/qscanner/${substr(filesha256(var.layer_zip_path), 0, 20)}.zip"
  secret_arn = (var.qualys_secret_arn != "" ? var.qualys_secret_arn
  : aws_secretsmanager_secret.qualys[0].arn)
  # The name in a full ARN is followed by a hyphen and six random characters (AWS Secrets Manager User
  # Guide, "Secret ARN"): stackset.yaml finds the secret by name, a partial ARN, in each region.
  secret_name = (var.qualys_secret_arn != "" ? replace(var.qualys_secret_arn, "/^.*:secret:(.+)-[A-Za-z0-9]{6}$/", "$1")
  : aws_secretsmanager_secret.qualys[0].name)
}

# ---------------------------------------------------------------- artifacts bucket

data "aws_iam_policy_document" "organization_reads_code" {
  count = local.shared ? 1 : 0

  # Member accounts' CloudFormation reads the code: s3:GetObject for the organization only.
  statement {
    sid       = "OrganizationReadsCode"
    effect    = "Allow"
    actions   = ["s3:GetObject"]
    resources = ["arn:${local.partition}:s3:::${local.bucket}/*"]

    principals {
      type        = "*"
      identifiers = ["*"]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:PrincipalOrgID"
      values   = [var.organization_id]
    }
  }
}

# The bucket's own statements, read once the objects are written: an emulator such as moto 5.2.1 reads
# every policy condition it cannot evaluate (aws:SecureTransport, aws:PrincipalOrgID) as a Deny, so
# objects written after the policy could not be read back; on AWS the order makes no difference.
data "aws_iam_policy_document" "bucket" {
  source_policy_documents = data.aws_iam_policy_document.organization_reads_code[*].json

  depends_on = [aws_s3_object.code, aws_s3_object.layer, aws_s3_object.template]
}

# SSE-S3, as make's bucket: member accounts cannot use this account's AWS managed KMS key.
module "bucket" {
  #checkov:skip=CKV_AWS_145:SSE-S3 on purpose: the organization's CloudFormation reads the code across accounts, which an AWS managed KMS key does not allow; the objects are build outputs, not data.
  source = "../hardened-bucket"

  name              = local.bucket
  sse_algorithm     = "AES256"
  lifecycle_rule_id = "ExpireOldArtifactVersions"
  force_destroy     = true
  policy_documents  = [data.aws_iam_policy_document.bucket.json]
}

resource "aws_s3_object" "code" {
  bucket                 = module.bucket.id
  key                    = local.code_key
  source                 = var.code_zip_path
  source_hash            = filemd5(var.code_zip_path)
  server_side_encryption = "AES256"
}

# Through S3: CloudFormation takes at most 51,200 bytes of template inline (AWS CloudFormation
# quotas, "Template body size in a request"); the stacks read these by URL.
resource "aws_s3_object" "template" {
  for_each = toset(var.template_paths)

  bucket                 = module.bucket.id
  key                    = "cloudformation/${substr(filesha256(each.value), 0, 20)}/${basename(each.value)}"
  source                 = each.value
  source_hash            = filemd5(each.value)
  server_side_encryption = "AES256"
}

# ---------------------------------------------------------------- QScanner layer

resource "aws_s3_object" "layer" {
  bucket                 = module.bucket.id
  key                    = local.layer_key
  source                 = var.layer_zip_path
  source_hash            = filemd5(var.layer_zip_path)
  server_side_encryption = "AES256"
}

resource "aws_lambda_layer_version" "qscanner" {
  layer_name          = "${var.name}-qscanner"
  description         = "Qualys QScanner at /opt/bin/qscanner"
  compatible_runtimes = ["python3.11", "python3.12"]
  source_code_hash    = filebase64sha256(var.layer_zip_path)
  s3_bucket           = aws_s3_object.layer.bucket
  s3_key              = aws_s3_object.layer.key
}

resource "aws_lambda_layer_version_permission" "organization" {
  count = local.shared ? 1 : 0

  layer_name      = aws_lambda_layer_version.qscanner.layer_arn
  version_number  = aws_lambda_layer_version.qscanner.version
  statement_id    = "organization-reads-layer"
  action          = "lambda:GetLayerVersion"
  principal       = "*"
  organization_id = var.organization_id
}

# ---------------------------------------------------------------- Qualys secret (only when not given)

# Created WITHOUT a value, as scanner-native's: the credentials never enter the Terraform state. Set
# it with `aws secretsmanager put-secret-value` (terraform/README.md).
resource "aws_secretsmanager_secret" "qualys" {
  #checkov:skip=CKV_AWS_149:Shared with an organization it is encrypted with the customer managed key below; otherwise the AWS managed key, as make deploy's secret, and only the scanner role may read it.
  #checkov:skip=CKV2_AWS_57:The Qualys token is issued and rotated in the Qualys portal; Secrets Manager has no rotation function for it, so rotation here would break the token.
  count = var.qualys_secret_arn == "" ? 1 : 0

  name        = local.shared ? "${var.name}/qualys-org" : "${var.name}/qualys"
  kms_key_id  = local.shared ? aws_kms_key.organization_secret[0].arn : null
  description = "Qualys pod and access token for the ${var.name} QScanner scanners"
}

data "aws_iam_policy_document" "organization_reads_secret" {
  count = local.shared && var.qualys_secret_arn == "" ? 1 : 0

  statement {
    sid       = "OrganizationScannersRead"
    effect    = "Allow"
    actions   = ["secretsmanager:GetSecretValue"]
    resources = ["*"]

    principals {
      type        = "*"
      identifiers = ["*"]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:PrincipalOrgID"
      values   = [var.organization_id]
    }

    condition {
      test     = "ArnLike"
      variable = "aws:PrincipalArn"
      values   = [local.org_scanner_roles]
    }
  }
}

resource "aws_secretsmanager_secret_policy" "organization" {
  count = local.shared && var.qualys_secret_arn == "" ? 1 : 0

  secret_arn          = aws_secretsmanager_secret.qualys[0].arn
  policy              = data.aws_iam_policy_document.organization_reads_secret[0].json
  block_public_policy = true
}

# A customer managed key the organization's scanner roles may decrypt with, via Secrets Manager only
# (an AWS managed key cannot be used from another account).
data "aws_iam_policy_document" "organization_secret_key" {
  #checkov:skip=CKV_AWS_111:A key policy: Resource "*" is the key itself (AWS KMS "Key policies"), and the account administers its own key as the default key policy does.
  #checkov:skip=CKV_AWS_356:A key policy: Resource "*" is the key itself, the only resource a key policy can name (AWS KMS "Key policies").
  #checkov:skip=CKV_AWS_109:A key policy: the account keeps administering its own key (the default key policy's statement); others may only decrypt via Secrets Manager.
  count = local.shared ? 1 : 0

  statement {
    sid       = "AccountAdministersKey"
    effect    = "Allow"
    actions   = ["kms:*"]
    resources = ["*"]

    principals {
      type        = "AWS"
      identifiers = ["arn:${local.partition}:iam::${local.account_id}:root"]
    }
  }

  statement {
    sid       = "OrganizationScannersDecryptViaSecretsManager"
    effect    = "Allow"
    actions   = ["kms:Decrypt"]
    resources = ["*"]

    principals {
      type        = "*"
      identifiers = ["*"]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:PrincipalOrgID"
      values   = [var.organization_id]
    }

    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["secretsmanager.${local.region}.amazonaws.com"]
    }

    condition {
      test     = "ArnLike"
      variable = "aws:PrincipalArn"
      values   = [local.org_scanner_roles]
    }
  }
}

resource "aws_kms_key" "organization_secret" {
  count = local.shared ? 1 : 0

  description         = "Qualys secret shared with ${var.organization_id}"
  enable_key_rotation = true
  policy              = data.aws_iam_policy_document.organization_secret_key[0].json
}

resource "aws_kms_alias" "organization_secret" {
  count = local.shared ? 1 : 0

  name          = "alias/${var.name}-org-secret"
  target_key_id = aws_kms_key.organization_secret[0].key_id
}
