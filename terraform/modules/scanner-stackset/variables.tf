variable "name" {
  type        = string
  default     = "qscanner"
  description = "StackSet name (make's STACKSET_NAME); scanner-artifacts' name, whose shared secret and key admit the roles StackSet-<name>-*."
}

variable "template_url" {
  type        = string
  description = "S3 URL of cloudformation/stackset.yaml (scanner-artifacts' template_urls)."
}

variable "organizational_unit_ids" {
  type        = list(string)
  description = "The OUs whose accounts get a scanner (make's OU_IDS)."

  validation {
    condition     = length(var.organizational_unit_ids) > 0 && alltrue([for id in var.organizational_unit_ids : can(regex("^(ou-[a-z0-9]{4,32}-[a-z0-9]{8,32}|r-[a-z0-9]{4,32})$", id))])
    error_message = "organizational_unit_ids must list OU ids (ou-...) or the root id (r-...)."
  }
}

variable "regional_artifacts" {
  type        = map(map(string))
  description = "Per region (make's REGIONS): scanner-artifacts' stackset_parameters in that region, which must be the same in every region (the layer versions included). One stack instance per region, without parameter overrides."

  validation {
    condition     = length(var.regional_artifacts) > 0
    error_message = "regional_artifacts needs at least one region."
  }
}

variable "parameters" {
  type        = map(string)
  default     = {}
  description = "Parameters of every instance by their template name, e.g. { QualysPod = \"US2\" } (make's QUALYS_POD and PARAMETERS)."
}

variable "call_as" {
  type        = string
  default     = "SELF"
  description = "SELF from the management account, DELEGATED_ADMIN from a delegated StackSets administrator."

  validation {
    condition     = contains(["SELF", "DELEGATED_ADMIN"], var.call_as)
    error_message = "call_as must be SELF or DELEGATED_ADMIN."
  }
}
