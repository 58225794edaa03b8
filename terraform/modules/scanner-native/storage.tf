# ---------------------------------------------------------------- results bucket

# ResultsBucket and ResultsBucketPolicy (see ../hardened-bucket; to keep the bucket on destroy, run
# `terraform state rm 'module.<name>.module.results_bucket[0].aws_s3_bucket.this'` first).
module "results_bucket" {
  source = "../hardened-bucket"
  count  = var.enable_s3_results ? 1 : 0

  name_prefix       = "${var.name}-results-"
  sse_algorithm     = "aws:kms"
  kms_key_arn       = var.kms_key_arn
  lifecycle_rule_id = "ExpireScanResults"
  expiration_days   = var.results_retention_days
}

# ---------------------------------------------------------------- scan cache

# ScanCacheTable (docs/DESIGN.md section 7, the cache item: partition key function_arn, TTL attribute ttl).
resource "aws_dynamodb_table" "scan_cache" {
  #checkov:skip=CKV_AWS_119:Encrypted with the AWS managed key unless kms_key_arn is set (optional); the cache holds code hashes, layer ARNs and timestamps only, and is rebuilt by rescanning if lost.
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
    enabled     = true
    kms_key_arn = var.kms_key_arn != "" ? var.kms_key_arn : null
  }

  point_in_time_recovery {
    enabled = true
  }
}
