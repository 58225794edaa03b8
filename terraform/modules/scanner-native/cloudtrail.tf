# ---------------------------------------------------------------- optional CloudTrail

# TrailBucket and TrailBucketPolicy (see ../hardened-bucket). SSE-S3, not SSE-KMS with aws/s3:
# CloudTrail cannot write to a bucket whose default key is the AWS managed key, whose policy cannot
# grant the CloudTrail service.
module "trail_bucket" {
  source = "../hardened-bucket"
  count  = var.create_cloudtrail ? 1 : 0

  name_prefix       = "${var.name}-trail-"
  sse_algorithm     = "AES256"
  lifecycle_rule_id = "ExpireTrailLogs"
  expiration_days   = var.results_retention_days
  policy_documents  = [data.aws_iam_policy_document.trail[0].json]
}

data "aws_iam_policy_document" "trail" {
  # CloudTrail's access; the bucket module adds DenyInsecureTransport.
  count = var.create_cloudtrail ? 1 : 0

  statement {
    sid       = "CloudTrailAclCheck"
    effect    = "Allow"
    actions   = ["s3:GetBucketAcl"]
    resources = [module.trail_bucket[0].arn]

    principals {
      type        = "Service"
      identifiers = ["cloudtrail.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:SourceArn"
      values   = [local.trail_arn]
    }
  }

  statement {
    sid       = "CloudTrailWrite"
    effect    = "Allow"
    actions   = ["s3:PutObject"]
    resources = ["${module.trail_bucket[0].arn}/AWSLogs/${local.account_id}/*"]

    principals {
      type        = "Service"
      identifiers = ["cloudtrail.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "s3:x-amz-acl"
      values   = ["bucket-owner-full-control"]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:SourceArn"
      values   = [local.trail_arn]
    }
  }
}

# Trail: multi-region, write-only management events, which is what the EventBridge rules match.
resource "aws_cloudtrail" "scanner" {
  #checkov:skip=CKV_AWS_35:Log files are encrypted at rest by the bucket's SSE-S3; SSE-KMS would need a customer managed key with a CloudTrail key policy for a trail that exists only to feed EventBridge.
  #checkov:skip=CKV_AWS_252:Nobody needs a notice per delivered log file: the trail exists to feed EventBridge, whose rules invoke the scanner directly.
  #checkov:skip=CKV2_AWS_10:No CloudWatch Logs copy: EventBridge receives the management events without it, and the logs are kept in the trail bucket.
  count = var.create_cloudtrail ? 1 : 0

  name                          = local.trail_name
  s3_bucket_name                = module.trail_bucket[0].id
  enable_logging                = true
  is_multi_region_trail         = true
  include_global_service_events = true
  enable_log_file_validation    = true

  event_selector {
    read_write_type           = "WriteOnly"
    include_management_events = true
  }

  # CloudTrail checks its write access when the trail is created.
  depends_on = [module.trail_bucket]
}
