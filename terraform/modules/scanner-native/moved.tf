# The results and trail buckets moved into ../hardened-bucket (one definition of their hardening).
# These blocks let `terraform plan` move state written by earlier versions of this module to the new
# addresses instead of destroying and recreating the buckets. Keep them while a deployment made
# before the move may still be applied; removing one later is safe once every state has moved.

# results bucket
moved {
  from = aws_s3_bucket.results[0]
  to   = module.results_bucket[0].aws_s3_bucket.this
}

moved {
  from = aws_s3_bucket_server_side_encryption_configuration.results[0]
  to   = module.results_bucket[0].aws_s3_bucket_server_side_encryption_configuration.this
}

moved {
  from = aws_s3_bucket_versioning.results[0]
  to   = module.results_bucket[0].aws_s3_bucket_versioning.this
}

moved {
  from = aws_s3_bucket_public_access_block.results[0]
  to   = module.results_bucket[0].aws_s3_bucket_public_access_block.this
}

moved {
  from = aws_s3_bucket_ownership_controls.results[0]
  to   = module.results_bucket[0].aws_s3_bucket_ownership_controls.this
}

moved {
  from = aws_s3_bucket_lifecycle_configuration.results[0]
  to   = module.results_bucket[0].aws_s3_bucket_lifecycle_configuration.this
}

moved {
  from = aws_s3_bucket_policy.results[0]
  to   = module.results_bucket[0].aws_s3_bucket_policy.this
}


# trail bucket
moved {
  from = aws_s3_bucket.trail[0]
  to   = module.trail_bucket[0].aws_s3_bucket.this
}

moved {
  from = aws_s3_bucket_server_side_encryption_configuration.trail[0]
  to   = module.trail_bucket[0].aws_s3_bucket_server_side_encryption_configuration.this
}

moved {
  from = aws_s3_bucket_versioning.trail[0]
  to   = module.trail_bucket[0].aws_s3_bucket_versioning.this
}

moved {
  from = aws_s3_bucket_public_access_block.trail[0]
  to   = module.trail_bucket[0].aws_s3_bucket_public_access_block.this
}

moved {
  from = aws_s3_bucket_ownership_controls.trail[0]
  to   = module.trail_bucket[0].aws_s3_bucket_ownership_controls.this
}

moved {
  from = aws_s3_bucket_lifecycle_configuration.trail[0]
  to   = module.trail_bucket[0].aws_s3_bucket_lifecycle_configuration.this
}

moved {
  from = aws_s3_bucket_policy.trail[0]
  to   = module.trail_bucket[0].aws_s3_bucket_policy.this
}
