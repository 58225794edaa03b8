variable "name" {
  type        = string
  default     = "qscanner-spoke"
  description = "Stack name (make's SPOKE_STACK_NAME)."
}

variable "template_path" {
  type        = string
  default     = ""
  description = "Path of the spoke template; empty: this repository's cloudformation/centralized-spoke.yaml."
}

variable "hub_event_bus_arn" {
  type        = string
  description = "HubEventBusArn: the hub's bus (scanner-hub's hub_event_bus_arn)."

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:events:[a-z0-9-]+:[0-9]{12}:event-bus/.+$", var.hub_event_bus_arn))
    error_message = "hub_event_bus_arn must be the ARN of the hub's event bus."
  }
}

variable "hub_scanner_role_arn" {
  type        = string
  description = "HubScannerRoleArn: the hub scanner's role (scanner-hub's scanner_role_arn), the only principal the spoke role trusts."

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:role/.+$", var.hub_scanner_role_arn))
    error_message = "hub_scanner_role_arn must be the ARN of the hub scanner's role."
  }
}

variable "external_id" {
  type        = string
  sensitive   = true
  description = "ExternalId: the hub's (a NoEcho parameter, kept in the Terraform state: protect the state)."

  validation {
    condition     = length(var.external_id) >= 16
    error_message = "external_id must be at least 16 characters."
  }
}

variable "spoke_role_name" {
  type        = string
  default     = "QualysScannerSpokeRole"
  description = "SpokeRoleName: as the hub's spoke_role_name."
}

variable "spoke_role_region" {
  type        = string
  description = "SpokeRoleRegion: the one region whose spoke stack creates the (global) spoke role."
}

variable "create_cloudtrail" {
  type        = bool
  default     = false
  description = "CreateCloudTrail: a management-events trail, when the account has none."
}

variable "enable_security_hub" {
  type        = bool
  default     = false
  description = "EnableSecurityHub: true when the hub imports findings into Security Hub."
}
