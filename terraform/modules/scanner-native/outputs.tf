# The template's outputs in snake_case; one that belongs to a disabled feature is null.

output "scan_queue_url" {
  description = "Queue of scan requests between the rules and the scanner (send a manual request here too)."
  value       = aws_sqs_queue.scan.url
}

output "scan_queue_arn" {
  description = "ARN of the scan queue."
  value       = aws_sqs_queue.scan.arn
}

output "manual_scan_rule_name" {
  description = "Rule that forwards manual scan requests (source qualys-lambda.manual) to the queue."
  value       = aws_cloudwatch_event_rule.manual_scan.name
}

output "inventory_schedule_rule_name" {
  description = "Scheduled inventory rule (null when inventory_schedule is empty)."
  value       = one(aws_cloudwatch_event_rule.inventory[*].name)
}

output "scanner_function_name" {
  description = "Name of the scanner function."
  value       = aws_lambda_function.scanner.function_name
}

output "scanner_function_arn" {
  description = "ARN of the scanner function."
  value       = aws_lambda_function.scanner.arn
}

output "scanner_role_arn" {
  description = "ARN of the scanner's execution role."
  value       = aws_iam_role.scanner.arn
}

output "results_bucket_name" {
  description = "Bucket holding scans/<account>/<region>/<function>/<timestamp>/summary.json (null when enable_s3_results is false)."
  value       = one(module.results_bucket[*].id)
}

output "scan_cache_table_name" {
  description = "DynamoDB scan cache, partition key function_arn (null when enable_scan_cache is false)."
  value       = one(aws_dynamodb_table.scan_cache[*].name)
}

output "sns_topic_arn" {
  description = "Topic receiving scan summaries and alarm notifications (null when enable_sns_notifications is false)."
  value       = one(aws_sns_topic.notifications[*].arn)
}

output "dead_letter_queue_url" {
  description = "URL of the dead-letter queue for failed scan events."
  value       = aws_sqs_queue.dead_letter.url
}

output "dead_letter_queue_arn" {
  description = "ARN of the dead-letter queue for failed scan events."
  value       = aws_sqs_queue.dead_letter.arn
}

output "scanner_log_group_name" {
  description = "Log group of the scanner function (JSON log format)."
  value       = aws_cloudwatch_log_group.scanner.name
}

output "cloudtrail_name" {
  description = "Name of the trail created by this module (null when create_cloudtrail is false)."
  value       = one(aws_cloudtrail.scanner[*].name)
}

output "create_function_rule_name" {
  description = "EventBridge rule for CreateFunction events."
  value       = aws_cloudwatch_event_rule.scan["create_function"].name
}

output "update_function_code_rule_name" {
  description = "EventBridge rule for UpdateFunctionCode events."
  value       = aws_cloudwatch_event_rule.scan["update_function_code"].name
}

output "update_function_configuration_rule_name" {
  description = "EventBridge rule for UpdateFunctionConfiguration events."
  value       = aws_cloudwatch_event_rule.scan["update_function_configuration"].name
}

# Not in the template, whose secret and layer are inputs.

output "qualys_secret_arn" {
  description = "ARN of the Qualys secret the scanner reads: qualys_secret_arn, or the secret this module created without a value (set it with `aws secretsmanager put-secret-value`)."
  value       = local.qualys_secret_arn
}

output "qscanner_layer_arn" {
  description = "Version ARN of the QScanner layer published from layer_zip_path."
  value       = aws_lambda_layer_version.qscanner.arn
}

output "inventory_queue_url" {
  description = "Queue of inventory units (one account and region each) between the schedule and the scanner."
  value       = aws_sqs_queue.inventory.url
}

output "inventory_queue_arn" {
  description = "ARN of the inventory queue."
  value       = aws_sqs_queue.inventory.arn
}

output "dashboard_name" {
  description = "CloudWatch dashboard of coverage, inventory, scans, failures and queues."
  value       = aws_cloudwatch_dashboard.scanner.dashboard_name
}
