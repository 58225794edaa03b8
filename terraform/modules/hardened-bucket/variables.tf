variable "name_prefix" {
  type        = string
  default     = ""
  description = "Prefix of the generated bucket name (bucket_prefix), when name is empty."
}

variable "name" {
  type        = string
  default     = ""
  description = "The bucket's exact name (make's artifacts bucket name); empty: generated from name_prefix."
}

variable "sse_algorithm" {
  type        = string
  description = "Default encryption: aws:kms (AWS managed key, with an S3 Bucket Key) or AES256 (SSE-S3, which CloudTrail needs)."

  validation {
    condition     = contains(["aws:kms", "AES256"], var.sse_algorithm)
    error_message = "sse_algorithm must be aws:kms or AES256."
  }
}

variable "kms_key_arn" {
  type        = string
  default     = ""
  description = "Customer managed KMS key for aws:kms default encryption; empty: the AWS managed key."
}

variable "expiration_days" {
  type        = number
  default     = null
  description = "Days after which current objects expire; null: never (noncurrent versions expire after 90 days either way)."
}

variable "force_destroy" {
  type        = bool
  default     = false
  description = "Let terraform destroy delete every object version with the bucket (artifacts only; results and trail logs are kept)."
}

variable "lifecycle_rule_id" {
  type        = string
  description = "Id of the lifecycle rule (ExpireScanResults, ExpireTrailLogs: the templates' ids)."
}

variable "policy_documents" {
  type        = list(string)
  default     = []
  description = "JSON policy documents merged into the bucket policy next to its DenyInsecureTransport statement."
}
