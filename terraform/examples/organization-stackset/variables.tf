variable "name" {
  type        = string
  default     = "qscanner"
  description = "StackSet name and prefix of the shared artifacts (make's STACKSET_NAME)."
}

variable "organization_id" {
  type        = string
  description = "The organization (o-...) the artifacts are shared with (make's ORG_ID)."
}

variable "organizational_unit_ids" {
  type        = list(string)
  description = "The OUs whose accounts get a scanner in every region (make's OU_IDS)."
}

variable "qualys_pod" {
  type        = string
  default     = "US2"
  description = "Qualys pod of your subscription; should match qualys_pod in the secrets."
}

variable "qualys_secret_arns" {
  type        = map(string)
  default     = {}
  description = "Existing shared secret ARN per region, each with the same name (the StackSet finds it by name); a region without one gets <name>/qualys-org created without a value, with its own key."
}

variable "call_as" {
  type        = string
  default     = "SELF"
  description = "SELF from the management account, DELEGATED_ADMIN from a delegated StackSets administrator."
}

variable "parameters" {
  type        = map(string)
  default     = {}
  description = "Other parameters of cloudformation/stackset.yaml by name (make's PARAMETERS)."
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
