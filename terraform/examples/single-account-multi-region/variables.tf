variable "name" {
  type        = string
  default     = "qscanner"
  description = "Prefix of every resource name in every region."
}

variable "qualys_pod" {
  type        = string
  default     = "US2"
  description = "Qualys pod of your subscription; should match qualys_pod in the secrets."
}

variable "qualys_secret_arns" {
  type        = map(string)
  default     = {}
  description = "Existing secret ARN per region (secrets are regional), e.g. {\"us-east-1\" = \"arn:...\"}. A region without one gets <name>/qualys created without a value."
}

variable "layer_zip_path" {
  type        = string
  default     = "../../../build/qscanner-layer.zip"
  description = "The QScanner layer zip built by `make layer`, published in every region."
}

variable "code_zip_path" {
  type        = string
  default     = "../../../build/scanner-lambda.zip"
  description = "The handler zip built by `make package`, relative to this directory."
}

variable "notification_email" {
  type        = string
  default     = ""
  description = "Optional e-mail address subscribed to every region's topic."
}

variable "create_cloudtrail" {
  type        = bool
  default     = false
  description = "Create one multi-region management-events trail (in us-east-1) if the account has none."
}
