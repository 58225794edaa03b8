# A private S3 bucket with the hardening every bucket of the scanner gets: default encryption,
# versioning, public access blocked, bucket-owner-enforced ownership, expiry of current and
# noncurrent versions, and a policy that denies plain HTTP. scanner-native uses it for the results
# bucket and the trail bucket (the ResultsBucket and TrailBucket of the CloudFormation templates),
# scanner-artifacts for the artifacts bucket (code, layer and templates, as make's).

# force_destroy false by default: CloudFormation retains the results and trail buckets on stack
# deletion; Terraform has no such policy, so `terraform destroy` stops at a non-empty bucket instead of
# deleting its objects. Artifacts (rebuilt by make) are deleted with every version.
resource "aws_s3_bucket" "this" {
  #checkov:skip=CKV_AWS_18:Written only by the scanner role (results, prefix scans/) or CloudTrail (trail, AWSLogs/) with public access blocked; server access logging would need yet another bucket per deployment.
  #checkov:skip=CKV_AWS_144:Scan results are reproducible by rescanning and trail logs only feed EventBridge; both expire after a retention period, and cross-region replication would double storage for data each region produces itself.
  #checkov:skip=CKV2_AWS_62:Nothing consumes object events: results are announced on the SNS topic and as EventBridge scan events by the scanner, and EventBridge receives API calls from CloudTrail directly.
  bucket        = var.name != "" ? var.name : null
  bucket_prefix = var.name == "" ? var.name_prefix : null
  force_destroy = var.force_destroy
}

resource "aws_s3_bucket_server_side_encryption_configuration" "this" {
  bucket = aws_s3_bucket.this.id

  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = var.sse_algorithm
      kms_master_key_id = var.sse_algorithm == "aws:kms" && var.kms_key_arn != "" ? var.kms_key_arn : null
    }
    # An S3 Bucket Key only applies to SSE-KMS.
    bucket_key_enabled = var.sse_algorithm == "aws:kms" ? true : null
  }
}

resource "aws_s3_bucket_versioning" "this" {
  bucket = aws_s3_bucket.this.id

  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_public_access_block" "this" {
  bucket                  = aws_s3_bucket.this.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_ownership_controls" "this" {
  bucket = aws_s3_bucket.this.id

  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "this" {
  bucket = aws_s3_bucket.this.id

  rule {
    id     = var.lifecycle_rule_id
    status = "Enabled"

    filter {}

    # Artifacts never expire while a stack may still read them (new StackSet accounts, updates).
    dynamic "expiration" {
      for_each = var.expiration_days == null ? [] : [var.expiration_days]
      content {
        days = expiration.value
      }
    }

    noncurrent_version_expiration {
      noncurrent_days = 90
    }

    abort_incomplete_multipart_upload {
      days_after_initiation = 7
    }
  }

  # Lifecycle rules on a versioned bucket need versioning in place first.
  depends_on = [aws_s3_bucket_versioning.this]
}

data "aws_iam_policy_document" "this" {
  # The caller's statements (e.g. CloudTrail's write access) merged in.
  source_policy_documents = var.policy_documents

  statement {
    sid     = "DenyInsecureTransport"
    effect  = "Deny"
    actions = ["s3:*"]
    resources = [
      aws_s3_bucket.this.arn,
      "${aws_s3_bucket.this.arn}/*",
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
}

resource "aws_s3_bucket_policy" "this" {
  bucket = aws_s3_bucket.this.id
  policy = data.aws_iam_policy_document.this.json

  # S3 rejects a bucket policy while the public access block is being written.
  depends_on = [aws_s3_bucket_public_access_block.this]
}
