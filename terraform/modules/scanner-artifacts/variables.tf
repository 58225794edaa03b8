variable "name" {
  type        = string
  default     = "qscanner"
  description = "make's STACK_NAME (and, for an organization, the StackSet's name): artifacts bucket <name>-artifacts-<account>-<region>, layer <name>-qscanner, secret <name>/qualys (<name>/qualys-org when shared)."

  validation {
    # The bucket name adds -artifacts-<12 digits>-<region> and must stay within S3's 63 characters.
    condition     = can(regex("^[a-z][a-z0-9-]{0,27}$", var.name))
    error_message = "name must be 1-28 lowercase letters, digits or hyphens, starting with a letter."
  }
}

variable "layer_zip_path" {
  type        = string
  description = "The QScanner layer zip built by `make layer` (build/qscanner-layer.zip), published as <name>-qscanner."

  validation {
    condition     = endswith(var.layer_zip_path, ".zip")
    error_message = "layer_zip_path must name the .zip built by make layer."
  }
}

variable "code_zip_path" {
  type        = string
  description = "The handler zip built by `make package` (build/scanner-lambda.zip), uploaded at scanner-lambda/<hash>.zip like make's CodeS3Key."

  validation {
    condition     = endswith(var.code_zip_path, ".zip")
    error_message = "code_zip_path must name the .zip built by make package."
  }
}

variable "template_paths" {
  type        = list(string)
  default     = []
  description = "CloudFormation templates (cloudformation/*.yaml) to upload for the stacks' template_url."
}

variable "qualys_secret_arn" {
  type        = string
  default     = ""
  description = "Full ARN of an existing Qualys secret in this account and region; empty creates one WITHOUT a value (put the value with the AWS CLI, so it never enters the state). For the StackSet the secret must have the same name in every region: stackset.yaml finds it by name."

  validation {
    condition     = var.qualys_secret_arn == "" || can(regex("^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:[0-9]{12}:secret:.+-[A-Za-z0-9]{6}$", var.qualys_secret_arn))
    error_message = "qualys_secret_arn must be empty or the full ARN of a Secrets Manager secret."
  }
}

variable "organization_id" {
  type        = string
  default     = ""
  description = "Share with this organization (the StackSet model): the code by bucket policy, the layer by layer permission, the created secret through a customer managed key and a resource policy, each for the StackSet's roles only. Empty: this account only."

  validation {
    condition     = var.organization_id == "" || can(regex("^o-[a-z0-9]{10,32}$", var.organization_id))
    error_message = "organization_id must be empty or an organization id (o-...)."
  }
}
