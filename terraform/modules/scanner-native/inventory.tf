# ---------------------------------------------------------------- inventory queue (organization scale)

# InventoryQueue: the inventory's units and their continuations, apart from the scan queue so a unit
# never waits behind the scans the previous one enqueued. Only the scanner writes here.
resource "aws_sqs_queue" "inventory" {
  name                    = "${var.name}-inventory-queue"
  sqs_managed_sse_enabled = var.kms_key_arn == "" ? true : null
  kms_master_key_id       = var.kms_key_arn != "" ? var.kms_key_arn : null
  # As the scan queue: six times the scanner's largest timeout (Lambda's advice for SQS sources).
  visibility_timeout_seconds = 5400
  message_retention_seconds  = 345600
  redrive_policy = jsonencode({
    deadLetterTargetArn = aws_sqs_queue.dead_letter.arn
    maxReceiveCount     = 5
  })
}

data "aws_iam_policy_document" "inventory_queue" {
  statement {
    sid       = "DenyInsecureTransport"
    effect    = "Deny"
    actions   = ["sqs:*"]
    resources = [aws_sqs_queue.inventory.arn]

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

# InventoryQueuePolicy
resource "aws_sqs_queue_policy" "inventory" {
  queue_url = aws_sqs_queue.inventory.id
  policy    = data.aws_iam_policy_document.inventory_queue.json
}

# InventoryQueueEventSource: one unit per invocation, at most inventory_queue_max_concurrency at once.
resource "aws_lambda_event_source_mapping" "inventory_queue" {
  event_source_arn        = aws_sqs_queue.inventory.arn
  function_name           = aws_lambda_function.scanner.arn
  batch_size              = 1
  function_response_types = ["ReportBatchItemFailures"]

  scaling_config {
    maximum_concurrency = var.inventory_queue_max_concurrency
  }

  depends_on = [aws_iam_role_policy.scanner]
}
