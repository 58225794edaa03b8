# ---------------------------------------------------------------- notifications

# NotificationKey. A customer managed key rather than alias/aws/sns: the AWS managed key's policy
# cannot be changed, and CloudWatch alarms cannot publish to a topic encrypted with it.
resource "aws_kms_key" "notifications" {
  count = var.enable_sns_notifications ? 1 : 0

  description         = "Encrypts the ${var.name} scan notifications topic"
  enable_key_rotation = true
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid       = "AccountAdministersKeyThroughIam"
        Effect    = "Allow"
        Principal = { AWS = "arn:${local.partition}:iam::${local.account_id}:root" }
        Action    = "kms:*"
        Resource  = "*"
      },
      {
        Sid       = "CloudWatchAlarmsPublish"
        Effect    = "Allow"
        Principal = { Service = "cloudwatch.amazonaws.com" }
        Action    = ["kms:Decrypt", "kms:GenerateDataKey*"]
        Resource  = "*"
        # Only alarms of this account (AWS IAM User Guide, "The confused deputy problem").
        Condition = { StringEquals = { "aws:SourceAccount" = local.account_id } }
      },
    ]
  })
}

# NotificationTopic
resource "aws_sns_topic" "notifications" {
  count = var.enable_sns_notifications ? 1 : 0

  name              = "${var.name}-notifications"
  display_name      = "QScanner Results"
  kms_master_key_id = aws_kms_key.notifications[0].arn
}

# NotificationEmailSubscription (pending until the recipient confirms it).
resource "aws_sns_topic_subscription" "email" {
  count = var.enable_sns_notifications && var.notification_email != "" ? 1 : 0

  topic_arn = aws_sns_topic.notifications[0].arn
  protocol  = "email"
  endpoint  = var.notification_email
}

# ---------------------------------------------------------------- alarms

# ScannerErrorsAlarm
resource "aws_cloudwatch_metric_alarm" "scanner_errors" {
  alarm_name          = "${var.name}-scanner-errors"
  alarm_description   = "The QScanner scanner function reported errors in the last 5 minutes."
  namespace           = "AWS/Lambda"
  metric_name         = "Errors"
  dimensions          = { FunctionName = aws_lambda_function.scanner.function_name }
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = aws_sns_topic.notifications[*].arn
}

# DeadLetterQueueAlarm
resource "aws_cloudwatch_metric_alarm" "dead_letter_queue" {
  alarm_name          = "${var.name}-dead-letter-queue"
  alarm_description   = "Scan events failed and are waiting in the dead-letter queue."
  namespace           = "AWS/SQS"
  metric_name         = "ApproximateNumberOfMessagesVisible"
  dimensions          = { QueueName = aws_sqs_queue.dead_letter.name }
  statistic           = "Maximum"
  period              = 300
  evaluation_periods  = 1
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = aws_sns_topic.notifications[*].arn
}

# ScannerThrottlesAlarm
resource "aws_cloudwatch_metric_alarm" "scanner_throttles" {
  alarm_name          = "${var.name}-scanner-throttles"
  alarm_description   = "The scanner was throttled (reserved concurrency or the account's limit) in the last 5 minutes."
  namespace           = "AWS/Lambda"
  metric_name         = "Throttles"
  dimensions          = { FunctionName = aws_lambda_function.scanner.function_name }
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = aws_sns_topic.notifications[*].arn
}

# ScannerDurationAlarm: 90% of the timeout (Duration is in milliseconds).
resource "aws_cloudwatch_metric_alarm" "scanner_duration" {
  alarm_name          = "${var.name}-scanner-duration"
  alarm_description   = "A scan ran for more than 90% of the scanner's timeout in the last 5 minutes."
  namespace           = "AWS/Lambda"
  metric_name         = "Duration"
  dimensions          = { FunctionName = aws_lambda_function.scanner.function_name }
  statistic           = "Maximum"
  period              = 300
  evaluation_periods  = 1
  threshold           = var.scanner_timeout * 900
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = aws_sns_topic.notifications[*].arn
}

# QScannerOutputUnrecognisedAlarm (metric of qualys_lambda.metrics): QScanner's output layout changed.
resource "aws_cloudwatch_metric_alarm" "qscanner_output_unrecognised" {
  alarm_name          = "${var.name}-qscanner-output-unrecognised"
  alarm_description   = "QScanner's output was not recognised (its version or layout changed); raw files are kept in S3."
  namespace           = "QualysLambda"
  metric_name         = "QScannerOutputUnrecognised"
  dimensions          = { Service = "qualys-lambda" }
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = aws_sns_topic.notifications[*].arn
}

# ScansTooLargeAlarm (metric of qualys_lambda.metrics): raise ephemeral_storage_size or scanner_memory_size.
resource "aws_cloudwatch_metric_alarm" "scans_too_large" {
  alarm_name          = "${var.name}-scans-too-large"
  alarm_description   = "A function is too large for the scanner's ephemeral storage or memory and was not scanned."
  namespace           = "QualysLambda"
  metric_name         = "ScansTooLarge"
  dimensions          = { Service = "qualys-lambda" }
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = aws_sns_topic.notifications[*].arn
}

# InventoryTargetsUnreachableAlarm (metric of qualys_lambda.metrics).
resource "aws_cloudwatch_metric_alarm" "inventory_targets_unreachable" {
  alarm_name          = "${var.name}-inventory-targets-unreachable"
  alarm_description   = "The inventory could not list the functions of one or more accounts or regions."
  namespace           = "QualysLambda"
  metric_name         = "InventoryTargetsUnreachable"
  dimensions          = { Service = "qualys-lambda" }
  statistic           = "Maximum"
  period              = 300
  evaluation_periods  = 1
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = aws_sns_topic.notifications[*].arn
}
