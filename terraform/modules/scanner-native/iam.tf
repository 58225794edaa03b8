# ScannerRole: the same trust and the same inline policy "qscanner-scanner" (same Sids, same actions,
# same resources) as the template. Statements for a disabled feature are left out, like !If ... NoValue.

data "aws_iam_policy_document" "scanner_assume" {
  statement {
    sid     = "LambdaAssumeRole"
    effect  = "Allow"
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["lambda.amazonaws.com"]
    }

    # Only Lambda acting for this account (AWS IAM User Guide, "The confused deputy problem").
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
}

locals {
  # suppressions_uri s3://bucket/key as the object's ARN suffix bucket/key.
  suppressions_object = trimprefix(var.suppressions_uri, "s3://")
}

data "aws_iam_policy_document" "scanner" {
  # GetFunctionUrlConfig and GetPolicy: the function's exposure; a denied read only leaves it unknown.
  statement {
    sid    = "ReadFunctionsToScan"
    effect = "Allow"
    actions = [
      "lambda:GetFunction",
      "lambda:GetFunctionConfiguration",
      "lambda:GetFunctionUrlConfig",
      "lambda:GetPolicy",
      "lambda:ListTags",
      # ListAliases and GetAlias: published versions behind aliases are scan targets.
      "lambda:ListAliases",
      "lambda:GetAlias",
    ]
    resources = ["arn:${local.partition}:lambda:*:${local.account_id}:function:*"]
  }

  # Any account's layer: the layer's own resource policy still decides (AWS Lambda Developer Guide,
  # "Layer permissions").
  statement {
    sid       = "ReadLayersToScan"
    effect    = "Allow"
    actions   = ["lambda:GetLayerVersion"]
    resources = ["arn:${local.partition}:lambda:*:*:layer:*:*"]
  }

  # Exactly the keys the scanner writes (generated.tf, from publish.SCANNER_TAG_KEYS): never the exclusion tag.
  dynamic "statement" {
    for_each = var.tag_functions ? [1] : []
    content {
      sid       = "TagScannedFunctions"
      effect    = "Allow"
      actions   = ["lambda:TagResource"]
      resources = ["arn:${local.partition}:lambda:*:${local.account_id}:function:*"]

      condition {
        test     = "ForAllValues:StringEquals"
        variable = "aws:TagKeys"
        values   = local.scanner_tag_keys
      }
    }
  }

  statement {
    sid    = "PullFunctionImages"
    effect = "Allow"
    actions = [
      "ecr:BatchGetImage",
      "ecr:GetDownloadUrlForLayer",
      "ecr:BatchCheckLayerAvailability",
      # The image's size, checked against /tmp before QScanner runs.
      "ecr:DescribeImages",
    ]
    # Any account's repository (a central registry); its repository policy still decides.
    resources = ["arn:${local.partition}:ecr:*:*:repository/*"]
  }

  # ecr:GetAuthorizationToken has no resource-level permission: "*" is its only valid Resource. The
  # token alone grants nothing beyond PullFunctionImages above.
  statement {
    sid       = "GetEcrAuthorizationToken"
    effect    = "Allow"
    actions   = ["ecr:GetAuthorizationToken"]
    resources = ["*"]
  }

  # Code under a customer managed key is served to GetFunction's caller only if it may decrypt
  # through Lambda; the key's policy must also admit this role.
  statement {
    sid       = "DecryptFunctionCode"
    effect    = "Allow"
    actions   = ["kms:Decrypt"]
    resources = ["arn:${local.partition}:kms:*:${local.account_id}:key/*"]

    condition {
      test     = "StringLike"
      variable = "kms:ViaService"
      values   = ["lambda.*.amazonaws.com"]
    }
  }

  statement {
    sid       = "ReadQualysSecret"
    effect    = "Allow"
    actions   = ["secretsmanager:GetSecretValue"]
    resources = [local.qualys_secret_arn]
  }

  # A secret under a customer managed key: decrypt only on behalf of Secrets Manager in this region.
  dynamic "statement" {
    for_each = var.qualys_secret_kms_key_arn != "" ? [1] : []
    content {
      sid       = "DecryptQualysSecret"
      effect    = "Allow"
      actions   = ["kms:Decrypt"]
      resources = [var.qualys_secret_kms_key_arn]

      condition {
        test     = "StringEquals"
        variable = "kms:ViaService"
        values   = ["secretsmanager.${local.region}.amazonaws.com"]
      }
    }
  }

  dynamic "statement" {
    for_each = var.enable_s3_results ? [1] : []
    content {
      sid       = "WriteScanResults"
      effect    = "Allow"
      actions   = ["s3:PutObject"]
      resources = ["${module.results_bucket[0].arn}/scans/*"]
    }
  }

  # scan_identical_code_once: a code identity's stored QScanner files are read back (reuse.py).
  dynamic "statement" {
    for_each = var.scan_identical_code_once && var.enable_s3_results ? [1] : []
    content {
      sid       = "ReadScanResults"
      effect    = "Allow"
      actions   = ["s3:GetObject"]
      resources = ["${module.results_bucket[0].arn}/scans/*"]
    }
  }

  # suppressions_uri: exactly the object it names.
  dynamic "statement" {
    for_each = var.suppressions_uri != "" ? [1] : []
    content {
      sid       = "ReadSuppressions"
      effect    = "Allow"
      actions   = ["s3:GetObject"]
      resources = ["arn:${local.partition}:s3:::${local.suppressions_object}"]
    }
  }

  dynamic "statement" {
    for_each = var.enable_sns_notifications ? [1] : []
    content {
      sid       = "PublishScanNotifications"
      effect    = "Allow"
      actions   = ["sns:Publish"]
      resources = [aws_sns_topic.notifications[0].arn]
    }
  }

  dynamic "statement" {
    for_each = var.enable_sns_notifications ? [1] : []
    content {
      sid    = "EncryptScanNotifications"
      effect = "Allow"
      actions = [
        "kms:GenerateDataKey",
        "kms:Decrypt",
      ]
      resources = [aws_kms_key.notifications[0].arn]
    }
  }

  dynamic "statement" {
    for_each = var.enable_scan_cache ? [1] : []
    content {
      sid    = "UseScanCache"
      effect = "Allow"
      actions = [
        "dynamodb:GetItem",
        "dynamodb:BatchGetItem",
        "dynamodb:PutItem",
        "dynamodb:UpdateItem",
        "dynamodb:DeleteItem",
      ]
      resources = [aws_dynamodb_table.scan_cache[0].arn]
    }
  }

  dynamic "statement" {
    for_each = var.enable_security_hub ? [1] : []
    content {
      sid       = "ImportSecurityHubFindings"
      effect    = "Allow"
      actions   = ["securityhub:BatchImportFindings"]
      resources = ["arn:${local.partition}:securityhub:${local.region}:${local.account_id}:product/${local.account_id}/default"]
    }
  }

  # Archiving a vanished vulnerability needs the function's current findings.
  dynamic "statement" {
    for_each = var.enable_security_hub ? [1] : []
    content {
      sid       = "ReadSecurityHubFindings"
      effect    = "Allow"
      actions   = ["securityhub:GetFindings"]
      resources = ["arn:${local.partition}:securityhub:${local.region}:${local.account_id}:hub/default"]
    }
  }

  # Suppressions as code: an existing finding's Workflow and Note change only through BatchUpdateFindings.
  dynamic "statement" {
    for_each = var.enable_security_hub ? [1] : []
    content {
      sid       = "SuppressSecurityHubFindings"
      effect    = "Allow"
      actions   = ["securityhub:BatchUpdateFindings"]
      resources = ["arn:${local.partition}:securityhub:${local.region}:${local.account_id}:hub/default"]
    }
  }

  dynamic "statement" {
    for_each = var.enable_scan_events ? [1] : []
    content {
      sid       = "PutScanEvents"
      effect    = "Allow"
      actions   = ["events:PutEvents"]
      resources = ["arn:${local.partition}:events:${local.region}:${local.account_id}:event-bus/default"]
    }
  }

  statement {
    sid    = "ConsumeScanQueue"
    effect = "Allow"
    actions = [
      "sqs:ReceiveMessage",
      "sqs:DeleteMessage",
      "sqs:ChangeMessageVisibility",
      "sqs:GetQueueAttributes",
    ]
    resources = [aws_sqs_queue.scan.arn, aws_sqs_queue.inventory.arn]
  }

  # Scans onto the scan queue, inventory units and their continuations onto the inventory queue.
  statement {
    sid       = "EnqueueInventoryScans"
    effect    = "Allow"
    actions   = ["sqs:SendMessage"]
    resources = [aws_sqs_queue.scan.arn, aws_sqs_queue.inventory.arn]
  }

  # The inventory lists every function; ListFunctions and tag:GetResources have no resource-level
  # permission, so "*" is their only valid Resource. Both only read.
  statement {
    sid    = "ListFunctionsForInventory"
    effect = "Allow"
    actions = [
      "lambda:ListFunctions",
      "tag:GetResources",
    ]
    resources = ["*"]
  }

  statement {
    sid       = "SendFailedEventsToDeadLetterQueue"
    effect    = "Allow"
    actions   = ["sqs:SendMessage"]
    resources = [aws_sqs_queue.dead_letter.arn]
  }

  statement {
    sid    = "WriteOwnLogs"
    effect = "Allow"
    actions = [
      "logs:CreateLogStream",
      "logs:PutLogEvents",
    ]
    # CloudFormation's LogGroup Arn ends in ":*"; the provider's arn attribute does not.
    resources = ["${aws_cloudwatch_log_group.scanner.arn}:*"]
  }

  # The module's customer managed key (kms_key_arn): bucket, queues, table and log group use it.
  dynamic "statement" {
    for_each = var.kms_key_arn != "" ? [1] : []
    content {
      sid       = "UseCustomerManagedKey"
      effect    = "Allow"
      actions   = ["kms:GenerateDataKey", "kms:Decrypt"]
      resources = [var.kms_key_arn]
    }
  }

  # No resource-level permission for these two: "*" is their only valid Resource.
  dynamic "statement" {
    for_each = var.enable_tracing ? [1] : []
    content {
      sid       = "WriteTraces"
      effect    = "Allow"
      actions   = ["xray:PutTraceSegments", "xray:PutTelemetryRecords"]
      resources = ["*"]
    }
  }
}

resource "aws_iam_role" "scanner" {
  # IAM is global: the region in the name keeps one module instance per region apart.
  name               = "${var.name}-scanner-${local.region}"
  description        = "Execution role of the QScanner Lambda scanner (least privilege)."
  assume_role_policy = data.aws_iam_policy_document.scanner_assume.json
}

resource "aws_iam_role_policy" "scanner" {
  name   = "qscanner-scanner"
  role   = aws_iam_role.scanner.id
  policy = data.aws_iam_policy_document.scanner.json
}
