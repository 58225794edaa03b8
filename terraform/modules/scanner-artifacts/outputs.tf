output "bucket" {
  description = "The artifacts bucket (the stacks' CodeS3Bucket)."
  value       = module.bucket.id
}

output "qualys_secret_arn" {
  description = "The Qualys secret (the stacks' QualysSecretArn); fill in a created one with the AWS CLI."
  value       = local.secret_arn
}

output "stack_parameters" {
  description = "The artifacts as the templates' parameters: QScannerLayerArn, CodeS3Bucket, CodeS3Key, QualysSecretArn, QualysSecretKmsKeyArn."
  value = {
    QScannerLayerArn      = aws_lambda_layer_version.qscanner.arn
    CodeS3Bucket          = module.bucket.id
    CodeS3Key             = aws_s3_object.code.key
    QualysSecretArn       = local.secret_arn
    QualysSecretKmsKeyArn = local.shared ? aws_kms_key.organization_secret[0].arn : ""
  }
}

output "stackset_parameters" {
  description = "The artifacts as cloudformation/stackset.yaml's parameters, which name rather than give them: the template derives this region's bucket <ArtifactsName>-artifacts-<ArtifactsAccountId>-<region>, layer <ArtifactsName>-qscanner:<QScannerLayerVersion> and secret <QualysSecretName>. The same in every region once the layer versions are (module scanner-stackset checks)."
  value = {
    ArtifactsAccountId   = local.account_id
    ArtifactsName        = var.name
    QScannerLayerVersion = aws_lambda_layer_version.qscanner.version
    QualysSecretName     = local.secret_name
    CodeS3Key            = aws_s3_object.code.key
  }
}

output "template_urls" {
  description = "S3 URL of each uploaded template, by file name (e.g. centralized-hub.yaml)."
  value = {
    for path, object in aws_s3_object.template :
    basename(path) => "https://${object.bucket}.s3.${local.region}.${data.aws_partition.current.dns_suffix}/${object.key}"
  }
}
