# ---------------------------------------------------------------- scanner function

# ScannerLogGroup
resource "aws_cloudwatch_log_group" "scanner" {
  #checkov:skip=CKV_AWS_158:CloudWatch Logs encrypts at rest with a service key unless kms_key_arn is set (optional, which this check cannot see through the conditional); the scanner logs carry no token or raw QScanner output.
  #checkov:skip=CKV_AWS_338:30 days, as in the CloudFormation template: these are operational logs; scan results are kept in the results bucket for results_retention_days.
  name              = "/aws/lambda/${local.function_name}"
  retention_in_days = 30
  kms_key_id        = var.kms_key_arn != "" ? var.kms_key_arn : null
}

# ScannerFunction
resource "aws_lambda_function" "scanner" {
  #checkov:skip=CKV_AWS_117:Not in a VPC: the scanner only calls AWS APIs and the Qualys platform over HTTPS; a VPC would need NAT or endpoints for every service without reducing exposure.
  #checkov:skip=CKV_AWS_173:Environment variables hold resource names and settings only; the Qualys token is read from Secrets Manager at run time, so a customer managed key adds nothing.
  #checkov:skip=CKV_AWS_50:X-Ray tracing is optional (enable_tracing, off by default as in the template): a scan is one QScanner process, whose duration the function's own metrics and logs already show.
  #checkov:skip=CKV_AWS_272:The code is the zip make package builds from this repository (the template's S3 zip, byte for byte); code signing would need a signing profile and a signed artifact outside Terraform, as with the template.
  function_name = local.function_name
  description   = "Qualys QScanner scanner for Lambda functions (pod ${var.qualys_pod})"
  # python3.12 as in the template: Lambda blocks creating python3.11 functions from 2026-07-31.
  runtime = "python3.12"
  handler = "lambda_function.lambda_handler"
  # The zip `make package` builds (deterministic), so Terraform and CloudFormation deploy the same bytes.
  filename         = var.code_zip_path
  source_code_hash = filebase64sha256(var.code_zip_path)
  role             = aws_iam_role.scanner.arn
  layers           = [aws_lambda_layer_version.qscanner.arn]
  memory_size      = var.scanner_memory_size
  timeout          = var.scanner_timeout
  # -1 is the provider's "unreserved", the template's 0.
  reserved_concurrent_executions = var.reserved_concurrency == 0 ? -1 : var.reserved_concurrency

  ephemeral_storage {
    size = var.ephemeral_storage_size
  }

  logging_config {
    log_format = "JSON"
    log_group  = aws_cloudwatch_log_group.scanner.name
  }

  dead_letter_config {
    target_arn = aws_sqs_queue.dead_letter.arn
  }

  tracing_config {
    mode = var.enable_tracing ? "Active" : "PassThrough"
  }

  # docs/DESIGN.md section 2 (the scanner's environment), one for one with the template's Environment.Variables; a disabled feature
  # leaves its variable empty.
  environment {
    variables = {
      QUALYS_SECRET_ARN   = local.qualys_secret_arn
      RESULTS_S3_BUCKET   = var.enable_s3_results ? module.results_bucket[0].id : ""
      SNS_TOPIC_ARN       = var.enable_sns_notifications ? aws_sns_topic.notifications[0].arn : ""
      SCAN_CACHE_TABLE    = var.enable_scan_cache ? aws_dynamodb_table.scan_cache[0].name : ""
      CACHE_TTL_DAYS      = tostring(var.cache_ttl_days)
      QSCANNER_PATH       = "/opt/bin/qscanner"
      SCAN_TYPES          = var.scan_types
      EXCLUDE_TAG         = var.exclude_tag
      ENABLE_SECURITY_HUB = tostring(var.enable_security_hub)
      SCAN_EVENT_BUS      = var.enable_scan_events ? "default" : ""
      SBOM_FORMATS        = var.sbom_formats
      SCAN_QUEUE_URL      = aws_sqs_queue.scan.url
      INVENTORY_QUEUE_URL = aws_sqs_queue.inventory.url
      RESCAN_AFTER_DAYS   = tostring(var.rescan_after_days)
      POLICY_TAGS         = var.policy_tags
      TAG_FUNCTIONS       = tostring(var.tag_functions)
      SUPPRESSIONS_URI    = var.suppressions_uri
      # One QScanner run per code identity (reuse.py).
      SCAN_IDENTICAL_CODE_ONCE = tostring(var.scan_identical_code_once)
      # The fit-before-fetch check compares a function's size with this (docs/DESIGN.md).
      EPHEMERAL_STORAGE_MB = tostring(var.ephemeral_storage_size)
    }
  }

  tags = {
    QualysPod = var.qualys_pod
  }

  # The role must allow the dead-letter queue and the log group before the function exists.
  depends_on = [aws_iam_role_policy.scanner]
}

# ScannerEventInvokeConfig
resource "aws_lambda_function_event_invoke_config" "scanner" {
  function_name          = aws_lambda_function.scanner.function_name
  qualifier              = "$LATEST"
  maximum_retry_attempts = 2

  destination_config {
    on_failure {
      destination = aws_sqs_queue.dead_letter.arn
    }
  }
}

# ---------------------------------------------------------------- dead-letter queue

# DeadLetterQueue. SQS managed SSE, not SSE-KMS with alias/aws/sqs: that key's policy cannot grant
# events.amazonaws.com, so EventBridge's dead-letter delivery would fail.
resource "aws_sqs_queue" "dead_letter" {
  name                      = "${var.name}-scanner-dlq"
  sqs_managed_sse_enabled   = var.kms_key_arn == "" ? true : null
  kms_master_key_id         = var.kms_key_arn != "" ? var.kms_key_arn : null
  message_retention_seconds = 1209600
}

data "aws_iam_policy_document" "dead_letter" {
  statement {
    sid       = "AllowScannerRuleFailures"
    effect    = "Allow"
    actions   = ["sqs:SendMessage"]
    resources = [aws_sqs_queue.dead_letter.arn]

    principals {
      type        = "Service"
      identifiers = ["events.amazonaws.com"]
    }

    condition {
      test     = "ArnEquals"
      variable = "aws:SourceArn"
      values = concat(
        [for rule in aws_cloudwatch_event_rule.scan : rule.arn],
        [aws_cloudwatch_event_rule.manual_scan.arn],
        aws_cloudwatch_event_rule.inventory[*].arn,
      )
    }
  }

  statement {
    sid       = "DenyInsecureTransport"
    effect    = "Deny"
    actions   = ["sqs:*"]
    resources = [aws_sqs_queue.dead_letter.arn]

    principals {
      type        = "*"
      identifiers = ["*"]
    }

    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }
}

# DeadLetterQueuePolicy
resource "aws_sqs_queue_policy" "dead_letter" {
  queue_url = aws_sqs_queue.dead_letter.id
  policy    = data.aws_iam_policy_document.dead_letter.json
}

# ---------------------------------------------------------------- scan queue (burst buffer)

# ScanQueue. SQS managed SSE for the same reason as the dead-letter queue: EventBridge delivers to it.
resource "aws_sqs_queue" "scan" {
  name                    = "${var.name}-scan-queue"
  sqs_managed_sse_enabled = var.kms_key_arn == "" ? true : null
  kms_master_key_id       = var.kms_key_arn != "" ? var.kms_key_arn : null
  # At least six times the scanner's timeout (scanner_timeout is at most 900 s), as Lambda
  # recommends for queue event sources, so a message is never redelivered mid-scan.
  visibility_timeout_seconds = 5400
  message_retention_seconds  = 345600
  redrive_policy = jsonencode({
    deadLetterTargetArn = aws_sqs_queue.dead_letter.arn
    maxReceiveCount     = 3
  })
}

data "aws_iam_policy_document" "scan_queue" {
  statement {
    sid       = "AllowScanRules"
    effect    = "Allow"
    actions   = ["sqs:SendMessage"]
    resources = [aws_sqs_queue.scan.arn]

    principals {
      type        = "Service"
      identifiers = ["events.amazonaws.com"]
    }

    condition {
      test     = "ArnEquals"
      variable = "aws:SourceArn"
      values = concat(
        [for rule in aws_cloudwatch_event_rule.scan : rule.arn],
        [aws_cloudwatch_event_rule.manual_scan.arn],
      )
    }
  }

  statement {
    sid       = "DenyInsecureTransport"
    effect    = "Deny"
    actions   = ["sqs:*"]
    resources = [aws_sqs_queue.scan.arn]

    principals {
      type        = "*"
      identifiers = ["*"]
    }

    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }
}

# ScanQueuePolicy
resource "aws_sqs_queue_policy" "scan" {
  queue_url = aws_sqs_queue.scan.id
  policy    = data.aws_iam_policy_document.scan_queue.json
}

# ScanQueueEventSource: one message per invocation, at most scan_queue_max_concurrency at once.
resource "aws_lambda_event_source_mapping" "scan_queue" {
  event_source_arn        = aws_sqs_queue.scan.arn
  function_name           = aws_lambda_function.scanner.arn
  batch_size              = 1
  function_response_types = ["ReportBatchItemFailures"]

  scaling_config {
    maximum_concurrency = var.scan_queue_max_concurrency
  }

  # Lambda checks the role can read the queue when the mapping is created.
  depends_on = [aws_iam_role_policy.scanner]
}

# ---------------------------------------------------------------- EventBridge rules

# The CloudTrail rules of local.rules (CreateFunctionRule ... DeleteAliasRule): into the scan queue.
resource "aws_cloudwatch_event_rule" "scan" {
  for_each = local.rules

  name        = "${var.name}-${replace(each.key, "_", "-")}"
  description = each.value.description
  state       = "ENABLED"
  event_pattern = jsonencode({
    source        = ["aws.lambda"]
    "detail-type" = ["AWS API Call via CloudTrail"]
    detail = {
      eventSource = ["lambda.amazonaws.com"]
      eventName   = [each.value.event_name]
      errorCode   = [{ exists = false }]
    }
  })
}

resource "aws_cloudwatch_event_target" "scan" {
  for_each = local.rules

  rule      = aws_cloudwatch_event_rule.scan[each.key].name
  target_id = "ScanQueue"
  arn       = aws_sqs_queue.scan.arn

  retry_policy {
    maximum_retry_attempts       = 4
    maximum_event_age_in_seconds = 3600
  }

  dead_letter_config {
    arn = aws_sqs_queue.dead_letter.arn
  }
}

# ManualScanRule
resource "aws_cloudwatch_event_rule" "manual_scan" {
  name        = "${var.name}-manual-scan"
  description = "Scan one function now, even when its code is unchanged (aws events put-events with source qualys-lambda.manual, detail-type \"Scan Request\", detail {\"functionName\": \"...\"})."
  state       = "ENABLED"
  event_pattern = jsonencode({
    source        = ["qualys-lambda.manual"]
    "detail-type" = ["Scan Request"]
  })
}

resource "aws_cloudwatch_event_target" "manual_scan" {
  rule      = aws_cloudwatch_event_rule.manual_scan.name
  target_id = "ScanQueue"
  arn       = aws_sqs_queue.scan.arn

  retry_policy {
    maximum_retry_attempts       = 4
    maximum_event_age_in_seconds = 3600
  }

  dead_letter_config {
    arn = aws_sqs_queue.dead_letter.arn
  }
}

# InventoryScheduleRule: invokes the scanner directly, which enqueues what needs a scan.
resource "aws_cloudwatch_event_rule" "inventory" {
  count = local.inventory_enabled ? 1 : 0

  name                = "${var.name}-inventory"
  description         = "List every function and enqueue those without a valid scan (backfill and rescans)."
  state               = "ENABLED"
  schedule_expression = var.inventory_schedule
}

resource "aws_cloudwatch_event_target" "inventory" {
  count = local.inventory_enabled ? 1 : 0

  rule      = aws_cloudwatch_event_rule.inventory[0].name
  target_id = "QScannerInventory"
  arn       = aws_lambda_function.scanner.arn

  retry_policy {
    maximum_retry_attempts       = 2
    maximum_event_age_in_seconds = 3600
  }

  dead_letter_config {
    arn = aws_sqs_queue.dead_letter.arn
  }
}

# InventoryScheduleRulePermission: the only rule that invokes the function (the others feed the queue).
resource "aws_lambda_permission" "inventory" {
  count = local.inventory_enabled ? 1 : 0

  statement_id  = "AllowEventBridgeInventory"
  function_name = aws_lambda_function.scanner.function_name
  action        = "lambda:InvokeFunction"
  principal     = "events.amazonaws.com"
  source_arn    = aws_cloudwatch_event_rule.inventory[0].arn
}
