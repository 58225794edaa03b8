output "scanner_function_name" {
  description = "Name of the scanner function."
  value       = module.scanner.scanner_function_name
}

output "qualys_secret_arn" {
  description = "The secret the scanner reads; put the Qualys pod and token in it with the AWS CLI."
  value       = module.scanner.qualys_secret_arn
}

output "results_bucket_name" {
  description = "Results bucket (null when disabled)."
  value       = module.scanner.results_bucket_name
}

output "sns_topic_arn" {
  description = "Notifications topic (null when disabled)."
  value       = module.scanner.sns_topic_arn
}

output "scan_cache_table_name" {
  description = "Scan cache table (null when disabled)."
  value       = module.scanner.scan_cache_table_name
}

output "dead_letter_queue_url" {
  description = "Dead-letter queue for failed scan events."
  value       = module.scanner.dead_letter_queue_url
}

output "scanner_log_group_name" {
  description = "Log group of the scanner function."
  value       = module.scanner.scanner_log_group_name
}
