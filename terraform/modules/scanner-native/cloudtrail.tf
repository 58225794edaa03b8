# ---------------------------------------------------------------- optional CloudTrail

# TrailBucket. Kept like the results bucket (see storage.tf). SSE-S3, not SSE-KMS with aws/s3:
# CloudTrail cannot write to a bucket whose default key is the AWS managed key, whose policy cannot
# grant the CloudTrail service.
resource "aws_s3_bucket" "trail" {
  #checkov:skip=CKV_AWS_18:Written only by CloudTrail under AWSLogs/; logging access to the access-log bucket would need yet another bucket.
  #checkov:skip=CKV_AWS_144:The trail only feeds EventBridge; its logs expire after results_retention_days and need no second copy in another region.
  #checkov:skip=CKV_AWS_145:SSE-S3 on purpose: CloudTrail cannot write to a bucket whose default key is the AWS managed aws/s3 key, and a customer managed key would need a CloudTrail key policy for a trail that exists only to feed EventBridge.
  #checkov:skip=CKV2_AWS_62:Nothing consumes object events from the trail bucket; EventBridge receives the API calls directly from CloudTrail.
  count = var.create_cloudtrail ? 1 : 0

  bucket_prefix = "${var.name}-trail-"
  force_destroy = false
}

resource "aws_s3_bucket_server_side_encryption_configuration" "trail" {
  count = var.create_cloudtrail ? 1 : 0

  bucket = aws_s3_bucket.trail[0].id

  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm = "AES256"
    }
  }
}

resource "aws_s3_bucket_versioning" "trail" {
  count = var.create_cloudtrail ? 1 : 0

  bucket = aws_s3_bucket.trail[0].id

  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_public_access_block" "trail" {
  count = var.create_cloudtrail ? 1 : 0

  bucket                  = aws_s3_bucket.trail[0].id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_ownership_controls" "trail" {
  count = var.create_cloudtrail ? 1 : 0

  bucket = aws_s3_bucket.trail[0].id

  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "trail" {
  count = var.create_cloudtrail ? 1 : 0

  bucket = aws_s3_bucket.trail[0].id

  rule {
    id     = "ExpireTrailLogs"
    status = "Enabled"

    filter {}

    expiration {
      days = var.results_retention_days
    }

    noncurrent_version_expiration {
      noncurrent_days = 90
    }

    abort_incomplete_multipart_upload {
      days_after_initiation = 7
    }
  }

  depends_on = [aws_s3_bucket_versioning.trail]
}

data "aws_iam_policy_document" "trail" {
  count = var.create_cloudtrail ? 1 : 0

  statement {
    sid     = "DenyInsecureTransport"
    effect  = "Deny"
    actions = ["s3:*"]
    resources = [
      aws_s3_bucket.trail[0].arn,
      "${aws_s3_bucket.trail[0].arn}/*",
    ]

    principals {
      type        = "*"
      identifiers = ["*"]
    }

    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }

  statement {
    sid       = "CloudTrailAclCheck"
    effect    = "Allow"
    actions   = ["s3:GetBucketAcl"]
    resources = [aws_s3_bucket.trail[0].arn]

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
    resources = ["${aws_s3_bucket.trail[0].arn}/AWSLogs/${local.account_id}/*"]

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

# TrailBucketPolicy
resource "aws_s3_bucket_policy" "trail" {
  count = var.create_cloudtrail ? 1 : 0

  bucket = aws_s3_bucket.trail[0].id
  policy = data.aws_iam_policy_document.trail[0].json

  depends_on = [aws_s3_bucket_public_access_block.trail]
}

# Trail: multi-region, write-only management events, which is what the EventBridge rules match.
resource "aws_cloudtrail" "scanner" {
  #checkov:skip=CKV_AWS_35:Log files are encrypted at rest by the bucket's SSE-S3; SSE-KMS would need a customer managed key with a CloudTrail key policy for a trail that exists only to feed EventBridge.
  #checkov:skip=CKV_AWS_252:Nobody needs a notice per delivered log file: the trail exists to feed EventBridge, whose rules invoke the scanner directly.
  #checkov:skip=CKV2_AWS_10:No CloudWatch Logs copy: EventBridge receives the management events without it, and the logs are kept in the trail bucket.
  count = var.create_cloudtrail ? 1 : 0

  name                          = local.trail_name
  s3_bucket_name                = aws_s3_bucket.trail[0].id
  enable_logging                = true
  is_multi_region_trail         = true
  include_global_service_events = true
  enable_log_file_validation    = true

  event_selector {
    read_write_type           = "WriteOnly"
    include_management_events = true
  }

  depends_on = [aws_s3_bucket_policy.trail]
}
