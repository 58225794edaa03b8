variable "name" {
  type        = string
  default     = "qscanner-hub"
  description = "Stack name (make's HUB_STACK_NAME); its resources are named after it."
}

variable "template_url" {
  type        = string
  description = "S3 URL of cloudformation/centralized-hub.yaml (scanner-artifacts' template_urls)."
}

variable "artifacts" {
  type        = map(string)
  description = "scanner-artifacts' stack_parameters: QScannerLayerArn, CodeS3Bucket, CodeS3Key, QualysSecretArn, QualysSecretKmsKeyArn."
}

variable "qualys_pod" {
  type        = string
  default     = "US2"
  description = "QualysPod: the Qualys platform of the subscription."
}

variable "external_id" {
  type        = string
  sensitive   = true
  description = "ExternalId every spoke role requires of the hub (at least 16 characters; a NoEcho parameter, kept in the Terraform state: protect the state)."

  validation {
    condition     = length(var.external_id) >= 16
    error_message = "external_id must be at least 16 characters."
  }
}

variable "organization_id" {
  type        = string
  default     = ""
  description = "OrganizationId: every account of this organization may forward to the hub (make's ORG_ID)."
}

variable "allowed_account_ids" {
  type        = list(string)
  default     = []
  description = "AllowedAccountIds: only these spoke accounts (make's SPOKE_ACCOUNT_IDS). Set this or organization_id."

  validation {
    condition     = alltrue([for id in var.allowed_account_ids : can(regex("^[0-9]{12}$", id))])
    error_message = "allowed_account_ids must be 12-digit account ids."
  }
}

variable "spoke_role_name" {
  type        = string
  default     = "QualysScannerSpokeRole"
  description = "SpokeRoleName: the role the hub assumes in every spoke."
}

variable "inventory_regions" {
  type        = list(string)
  default     = []
  description = "InventoryRegions: regions the hub's inventory lists in every spoke; empty: the hub's region."
}

variable "parameters" {
  type        = map(string)
  default     = {}
  description = "Any other parameter of the template by its name (make's PARAMETERS), e.g. { EnableSecurityHub = \"true\" }."
}
