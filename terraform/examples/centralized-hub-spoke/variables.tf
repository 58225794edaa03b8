variable "aws_region" {
  type        = string
  description = "Region of the hub and of this spoke."
}

variable "name" {
  type        = string
  default     = "qscanner"
  description = "Prefix: stacks <name>-hub and <name>-spoke, artifacts <name>-artifacts-<account>-<region>."
}

variable "qualys_pod" {
  type        = string
  default     = "US2"
  description = "Qualys pod of your subscription; should match qualys_pod in the secret."
}

variable "qualys_secret_arn" {
  type        = string
  default     = ""
  description = "Existing secret in the hub's region; empty creates <name>/qualys without a value."
}

variable "external_id" {
  type        = string
  sensitive   = true
  description = "ExternalId the spoke roles require of the hub (at least 16 characters), e.g. from TF_VAR_external_id=$(openssl rand -hex 24). It is kept in the state."
}

variable "organization_id" {
  type        = string
  default     = ""
  description = "Every account of this organization may forward to the hub (make's ORG_ID). Set this and/or spoke_account_ids."
}

variable "spoke_account_ids" {
  type        = list(string)
  default     = []
  description = "Only these spoke accounts (make's SPOKE_ACCOUNT_IDS)."
}

variable "spoke_profile" {
  type        = string
  default     = ""
  description = "AWS profile of the spoke account; empty: the hub's credentials."
}

variable "hub_parameters" {
  type        = map(string)
  default     = {}
  description = "Other parameters of cloudformation/centralized-hub.yaml by name (make's PARAMETERS)."
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
