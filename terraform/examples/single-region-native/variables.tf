variable "aws_region" {
  type        = string
  description = "Region to deploy the scanner in; it scans the functions of this region."
}

variable "name" {
  type        = string
  default     = "qscanner"
  description = "Prefix of every resource name (the CloudFormation stack name's counterpart)."
}

variable "qualys_pod" {
  type        = string
  default     = "US2"
  description = "Qualys pod of your subscription; should match qualys_pod in the secret."
}

variable "qualys_secret_arn" {
  type        = string
  default     = ""
  description = "ARN of an existing secret {\"qualys_pod\", \"qualys_access_token\"}; empty creates <name>/qualys without a value."
}

variable "layer_zip_path" {
  type        = string
  default     = "../../../build/qscanner-layer.zip"
  description = "The QScanner layer zip built by `make layer`, relative to this directory."
}

variable "code_zip_path" {
  type        = string
  default     = "../../../build/scanner-lambda.zip"
  description = "The handler zip built by `make package`, relative to this directory."
}

variable "enable_s3_results" {
  type        = bool
  default     = true
  description = "Create the results bucket."
}

variable "enable_sns_notifications" {
  type        = bool
  default     = true
  description = "Create the notifications topic and its KMS key."
}

variable "notification_email" {
  type        = string
  default     = ""
  description = "Optional e-mail address subscribed to the topic."
}

variable "enable_scan_cache" {
  type        = bool
  default     = true
  description = "Create the DynamoDB scan cache."
}

variable "cache_ttl_days" {
  type        = number
  default     = 30
  description = "Days a successful scan of unchanged code stays valid."
}

variable "create_cloudtrail" {
  type        = bool
  default     = false
  description = "Create a multi-region management-events trail (only if the account has none)."
}

variable "scanner_memory_size" {
  type        = number
  default     = 2048
  description = "Scanner memory in MB (512-10240)."
}

variable "scanner_timeout" {
  type        = number
  default     = 900
  description = "Scanner timeout in seconds (60-900)."
}
