# ---------------------------------------------------------------- results bucket

# ResultsBucket. CloudFormation retains it on stack deletion; Terraform has no such policy, so
# force_destroy stays false: `terraform destroy` stops at a non-empty bucket instead of deleting
# results (run `terraform state rm 'module.<name>.aws_s3_bucket.results[0]'` first to keep it).
resource "aws_s3_bucket" "results" {
  #checkov:skip=CKV_AWS_18:Only the scanner role writes here (prefix scans/) and public access is blocked; server access logging would need a second bucket per deployment. Enable it if your policy requires.
  #checkov:skip=CKV_AWS_144:Scan results are reproducible by rescanning and the scanner is deployed per region; cross-region replication would double storage for data the other regions produce themselves.
  #checkov:skip=CKV2_AWS_62:Nothing consumes object events: new results are announced on the SNS topic and as EventBridge scan events by the scanner itself.
  count = var.enable_s3_results ? 1 : 0

  bucket_prefix = "${var.name}-results-"
  force_destroy = false
}

resource "aws_s3_bucket_server_side_encryption_configuration" "results" {
  count = var.enable_s3_results ? 1 : 0

  bucket = aws_s3_bucket.results[0].id

  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm = "aws:kms"
    }
    bucket_key_enabled = true
  }
}

resource "aws_s3_bucket_versioning" "results" {
  count = var.enable_s3_results ? 1 : 0

  bucket = aws_s3_bucket.results[0].id

  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_public_access_block" "results" {
  count = var.enable_s3_results ? 1 : 0

  bucket                  = aws_s3_bucket.results[0].id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_ownership_controls" "results" {
  count = var.enable_s3_results ? 1 : 0

  bucket = aws_s3_bucket.results[0].id

  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "results" {
  count = var.enable_s3_results ? 1 : 0

  bucket = aws_s3_bucket.results[0].id

  rule {
    id     = "ExpireScanResults"
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

  # Lifecycle rules on a versioned bucket need versioning in place first.
  depends_on = [aws_s3_bucket_versioning.results]
}

data "aws_iam_policy_document" "results" {
  count = var.enable_s3_results ? 1 : 0

  statement {
    sid     = "DenyInsecureTransport"
    effect  = "Deny"
    actions = ["s3:*"]
    resources = [
      aws_s3_bucket.results[0].arn,
      "${aws_s3_bucket.results[0].arn}/*",
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

# ResultsBucketPolicy
resource "aws_s3_bucket_policy" "results" {
  count = var.enable_s3_results ? 1 : 0

  bucket = aws_s3_bucket.results[0].id
  policy = data.aws_iam_policy_document.results[0].json

  # S3 rejects a bucket policy while the public access block is being written.
  depends_on = [aws_s3_bucket_public_access_block.results]
}

# ---------------------------------------------------------------- scan cache

# ScanCacheTable (docs/DESIGN.md section 7, the cache item: partition key function_arn, TTL attribute ttl).
resource "aws_dynamodb_table" "scan_cache" {
  #checkov:skip=CKV_AWS_119:Encrypted with the AWS managed key (server_side_encryption enabled); the cache holds code hashes, layer ARNs and timestamps only, and is rebuilt by rescanning if lost.
  count = var.enable_scan_cache ? 1 : 0

  name         = "${var.name}-scan-cache"
  billing_mode = "PAY_PER_REQUEST"
  hash_key     = "function_arn"

  attribute {
    name = "function_arn"
    type = "S"
  }

  ttl {
    attribute_name = "ttl"
    enabled        = true
  }

  server_side_encryption {
    enabled = true
  }

  point_in_time_recovery {
    enabled = true
  }
}
