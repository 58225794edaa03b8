# Each variable mirrors a parameter of cloudformation/single-account-native.yaml (snake_case of its
# name), except: `name` stands for the stack name, `layer_zip_path`/`layer_s3_bucket` replace
# QScannerLayerArn (the module publishes the layer), and `code_zip_path` (the zip of `make package`,
# uploaded with the function) replaces CodeS3Bucket/CodeS3Key. Booleans are bool, not the template's
# "true"/"false".

variable "name" {
  type        = string
  default     = "qscanner"
  description = "Stands for the CloudFormation stack name: prefixes every resource name (function <name>-scanner, layer <name>-qscanner, trail <name>-qscanner, secret <name>/qualys)."

  validation {
    # 28 characters keep the longest derived names within AWS limits (S3 bucket_prefix is 37).
    condition     = can(regex("^[a-z][a-z0-9-]{0,27}$", var.name))
    error_message = "name must be 1-28 lowercase letters, digits or hyphens, starting with a letter."
  }
}

variable "qualys_pod" {
  type        = string
  default     = "US2"
  description = "Qualys platform (pod) of your subscription. The scanner reads the pod from the secret (qualys_pod); this value becomes the function's QualysPod tag and should match it."

  validation {
    condition     = contains(["US1", "US2", "US3", "US4", "EU1", "EU2", "EU3", "IN1", "CA1", "AE1", "UK1", "AU1", "KSA1"], var.qualys_pod)
    error_message = "qualys_pod must be one of US1, US2, US3, US4, EU1, EU2, EU3, IN1, CA1, AE1, UK1, AU1, KSA1."
  }
}

variable "qualys_secret_arn" {
  type        = string
  default     = ""
  description = "Full ARN of an existing Secrets Manager secret holding {\"qualys_pod\": \"...\", \"qualys_client_id\": \"...\", \"qualys_client_secret\": \"...\"} (preferred) or {\"qualys_pod\": \"...\", \"qualys_access_token\": \"...\"}, optionally with \"qualys_gateway_url\" for platforms outside the POD list; the only secret the scanner may read. Empty: the module creates the secret <name>/qualys WITHOUT a value; set it with the AWS CLI (README.md, section Terraform), so the token never lands in the Terraform state."

  validation {
    condition     = var.qualys_secret_arn == "" || can(regex("^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:[0-9]{12}:secret:.+$", var.qualys_secret_arn))
    error_message = "qualys_secret_arn must be empty or the full ARN of a Secrets Manager secret."
  }
}

variable "layer_zip_path" {
  type        = string
  description = "Path of the QScanner layer zip built by `make layer` (build/qscanner-layer.zip, binary at bin/qscanner); published as the layer <name>-qscanner."

  validation {
    condition     = endswith(var.layer_zip_path, ".zip")
    error_message = "layer_zip_path must name the .zip built by make layer (build/qscanner-layer.zip)."
  }
}

variable "code_zip_path" {
  type        = string
  description = "Path of the handler zip built by `make package` (build/scanner-lambda.zip: lambda_function.py and qualys_lambda/, deterministic), the same bytes make deploy uploads as CodeS3Key."

  validation {
    condition     = endswith(var.code_zip_path, ".zip")
    error_message = "code_zip_path must name the .zip built by make package (build/scanner-lambda.zip)."
  }
}

variable "layer_s3_bucket" {
  type        = string
  default     = ""
  description = "Optional bucket, in the same region, through which the layer zip is uploaded (needed when the zip exceeds Lambda's 50 MB direct-upload limit). Empty: direct upload."
}

variable "scan_types" {
  type        = string
  default     = "pkg,secret"
  description = "Value of QScanner's --scan-types (SCAN_TYPES): os, sca, secret, malware, fileinsight, compliance, pkg (os+sca), per the Qualys QScanner README v4.8.0."

  validation {
    condition     = alltrue([for t in split(",", var.scan_types) : contains(["os", "sca", "secret", "malware", "fileinsight", "compliance", "pkg"], t)])
    error_message = "scan_types must be a comma-separated list of os, sca, secret, malware, fileinsight, compliance, pkg."
  }
}

variable "policy_tags" {
  type        = string
  default     = ""
  description = "Qualys policy tags (POLICY_TAGS). Empty: off. Set: QScanner runs --mode evaluate-policy --policy-tags <these>, and the verdict (ALLOW, DENY, AUDIT) lands in the summary, the QualysScanPolicy tag and the SNS attribute policy."

  validation {
    condition     = can(regex("^([A-Za-z0-9_ .:/=+@-]{1,128}(,[A-Za-z0-9_ .:/=+@-]{1,128})*)?$", var.policy_tags))
    error_message = "policy_tags must be empty or comma-separated Qualys policy tag names."
  }
}

variable "scanner_memory_size" {
  type        = number
  default     = 2048
  description = "Scanner memory in MB (QScanner is CPU and memory hungry; CPU scales with memory)."

  validation {
    condition     = var.scanner_memory_size >= 512 && var.scanner_memory_size <= 10240 && floor(var.scanner_memory_size) == var.scanner_memory_size
    error_message = "scanner_memory_size must be a whole number of MB from 512 to 10240."
  }
}

variable "scanner_timeout" {
  type        = number
  default     = 900
  description = "Scanner timeout in seconds (Lambda's maximum is 900)."

  validation {
    condition     = var.scanner_timeout >= 60 && var.scanner_timeout <= 900 && floor(var.scanner_timeout) == var.scanner_timeout
    error_message = "scanner_timeout must be a whole number of seconds from 60 to 900."
  }
}

variable "ephemeral_storage_size" {
  type        = number
  default     = 2048
  description = "Size of /tmp in MB; QScanner unpacks the target's code and layers there."

  validation {
    condition     = var.ephemeral_storage_size >= 512 && var.ephemeral_storage_size <= 10240 && floor(var.ephemeral_storage_size) == var.ephemeral_storage_size
    error_message = "ephemeral_storage_size must be a whole number of MB from 512 to 10240."
  }
}

variable "reserved_concurrency" {
  type        = number
  default     = 10
  description = "Reserved concurrency for the scanner, which caps parallel scans; 0 leaves it unreserved."

  validation {
    condition     = var.reserved_concurrency >= 0 && var.reserved_concurrency <= 1000 && floor(var.reserved_concurrency) == var.reserved_concurrency
    error_message = "reserved_concurrency must be a whole number from 0 to 1000."
  }
}

variable "exclude_tag" {
  type        = string
  default     = "QualysScanExclude"
  description = "A function tagged with this key (value \"true\") is never scanned (EXCLUDE_TAG)."

  validation {
    condition     = length(var.exclude_tag) >= 1 && length(var.exclude_tag) <= 128
    error_message = "exclude_tag must be 1 to 128 characters."
  }
}

variable "enable_s3_results" {
  type        = bool
  default     = true
  description = "Create the results bucket and store summary.json plus QScanner's files per scan (RESULTS_S3_BUCKET)."
}

variable "results_retention_days" {
  type        = number
  default     = 365
  description = "Days after which scan results expire from the results bucket (and CloudTrail logs from the trail bucket when create_cloudtrail is true). Noncurrent versions expire after 90 days."

  validation {
    condition     = var.results_retention_days >= 1 && var.results_retention_days <= 3650 && floor(var.results_retention_days) == var.results_retention_days
    error_message = "results_retention_days must be a whole number from 1 to 3650."
  }
}

variable "enable_sns_notifications" {
  type        = bool
  default     = true
  description = "Create the notifications topic (and its KMS key); scan summaries and the alarms publish to it (SNS_TOPIC_ARN)."
}

variable "notification_email" {
  type        = string
  default     = ""
  description = "Optional e-mail address subscribed to the topic (empty = no subscription)."

  validation {
    condition     = var.notification_email == "" || can(regex("^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$", var.notification_email))
    error_message = "notification_email must be empty or an e-mail address."
  }
}

variable "enable_scan_cache" {
  type        = bool
  default     = true
  description = "Create the DynamoDB scan cache so unchanged code is not scanned again within cache_ttl_days (SCAN_CACHE_TABLE)."
}

variable "cache_ttl_days" {
  type        = number
  default     = 30
  description = "Days a successful scan of unchanged code (same CodeSha256 / image digest and layers) stays valid (CACHE_TTL_DAYS)."

  validation {
    condition     = var.cache_ttl_days >= 1 && var.cache_ttl_days <= 365 && floor(var.cache_ttl_days) == var.cache_ttl_days
    error_message = "cache_ttl_days must be a whole number from 1 to 365."
  }
}

variable "create_cloudtrail" {
  type        = bool
  default     = false
  description = "Create a multi-region trail (write-only management events) and its bucket. Leave false if the account already has a trail; with several regions, enable it in one instance only."
}

variable "enable_security_hub" {
  type        = bool
  default     = false
  description = "Import each scan's findings into this account's Security Hub (BatchImportFindings through the account's default product). Security Hub must be enabled in the region (ENABLE_SECURITY_HUB)."
}

variable "enable_scan_events" {
  type        = bool
  default     = true
  description = "Put a \"Lambda Scan Completed\" event (source qualys-lambda) on the default event bus after each scan (SCAN_EVENT_BUS)."
}

variable "sbom_formats" {
  type        = string
  default     = "spdx,cyclonedx"
  description = "SBOM formats QScanner writes beside summary.json, empty for none (SBOM_FORMATS)."

  validation {
    condition     = contains(["spdx,cyclonedx", "spdx", "cyclonedx", ""], var.sbom_formats)
    error_message = "sbom_formats must be one of \"spdx,cyclonedx\", \"spdx\", \"cyclonedx\" or \"\"."
  }
}

variable "scan_queue_max_concurrency" {
  type        = number
  default     = 5
  description = "Most scans the queue feeds the scanner at once, so a deploy of thousands of functions neither throttles the account nor loses an event (keep it at or below reserved_concurrency)."

  validation {
    condition     = var.scan_queue_max_concurrency >= 2 && var.scan_queue_max_concurrency <= 1000 && floor(var.scan_queue_max_concurrency) == var.scan_queue_max_concurrency
    error_message = "scan_queue_max_concurrency must be a whole number from 2 to 1000."
  }
}

variable "inventory_schedule" {
  type        = string
  default     = "rate(1 day)"
  description = "When the inventory lists every function and enqueues those without a valid scan (an EventBridge schedule expression); empty disables the scheduled inventory."

  validation {
    condition     = can(regex("^$|^(rate|cron)\\(.+\\)$", var.inventory_schedule))
    error_message = "inventory_schedule must be empty or an EventBridge schedule expression: rate(...) or cron(...)."
  }
}

variable "rescan_after_days" {
  type        = number
  default     = 7
  description = "A successful scan older than this is stale: the next inventory rescans it so new advisories reach unchanged code. cache_ttl_days stays the upper bound (RESCAN_AFTER_DAYS)."

  validation {
    condition     = var.rescan_after_days >= 1 && var.rescan_after_days <= 365 && floor(var.rescan_after_days) == var.rescan_after_days
    error_message = "rescan_after_days must be a whole number from 1 to 365."
  }
}

variable "tag_functions" {
  type        = bool
  default     = true
  description = "Tag each scanned function with QualysScan* tags (TAG_FUNCTIONS; the template's EnableTagging). false where tag policies forbid other tags on functions; the role then has no lambda:TagResource."
}

variable "enable_tracing" {
  type        = bool
  default     = false
  description = "Active X-Ray tracing of the scanner (tracing_config Active plus xray:PutTraceSegments and PutTelemetryRecords; the template's EnableTracing). Off by default."
}

variable "kms_key_arn" {
  type        = string
  default     = ""
  description = "Optional customer managed KMS key (same region) for the results bucket, the scan and dead-letter queues, the scan cache table, the log group and the created secret. Its key policy must admit CloudWatch Logs, SQS, EventBridge and the scanner role (docs/security.md, \"Customer managed keys\"). Empty: AWS managed encryption."

  validation {
    condition     = var.kms_key_arn == "" || can(regex("^arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/[a-zA-Z0-9-]+$", var.kms_key_arn))
    error_message = "kms_key_arn must be empty or a KMS key ARN."
  }
}

variable "qualys_secret_kms_key_arn" {
  type        = string
  default     = ""
  description = "ARN of the customer managed KMS key that encrypts an existing Qualys secret; the scanner may use it only through Secrets Manager (kms:ViaService). Empty: aws/secretsmanager."

  validation {
    condition     = var.qualys_secret_kms_key_arn == "" || can(regex("^arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/[a-zA-Z0-9-]+$", var.qualys_secret_kms_key_arn))
    error_message = "qualys_secret_kms_key_arn must be empty or a KMS key ARN."
  }
}

variable "inventory_queue_max_concurrency" {
  type        = number
  default     = 2
  description = "Most inventory units (one account and region each) the inventory queue feeds the scanner at once; keep scan_queue_max_concurrency + this + 1 at or below reserved_concurrency."

  validation {
    # Lambda's range for an SQS event source's maximum concurrency (2 to 1000).
    condition     = var.inventory_queue_max_concurrency >= 2 && var.inventory_queue_max_concurrency <= 1000 && floor(var.inventory_queue_max_concurrency) == var.inventory_queue_max_concurrency
    error_message = "inventory_queue_max_concurrency must be a whole number from 2 to 1000."
  }
}

variable "suppressions_uri" {
  type        = string
  default     = ""
  description = "The team's suppression rules (SUPPRESSIONS_URI, s3://bucket/key), uploaded by `make suppressions FILE=...`; the scanner may read exactly this object (the template's SuppressionsUri). Empty: no suppressions."

  validation {
    condition     = var.suppressions_uri == "" || can(regex("^s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]/.+$", var.suppressions_uri))
    error_message = "suppressions_uri must be empty or s3://bucket/key."
  }
}

variable "scan_identical_code_once" {
  type        = bool
  default     = false
  description = "Run QScanner once per code identity (SCAN_IDENTICAL_CODE_ONCE; the template's ScanIdenticalCodeOnce): functions with the same CodeSha256 and layer versions receive the scanned function's results as their own. Needs enable_s3_results and enable_scan_cache. Qualys's portal lists only the function that was scanned."
}
