output "scanner_function_arns" {
  description = "Scanner function ARN per region."
  value = {
    "us-east-1" = module.scanner_us_east_1.scanner_function_arn
    "us-west-2" = module.scanner_us_west_2.scanner_function_arn
    "eu-west-1" = module.scanner_eu_west_1.scanner_function_arn
  }
}

output "qualys_secret_arns" {
  description = "Secret the scanner reads, per region; set each created one with the AWS CLI."
  value = {
    "us-east-1" = module.scanner_us_east_1.qualys_secret_arn
    "us-west-2" = module.scanner_us_west_2.qualys_secret_arn
    "eu-west-1" = module.scanner_eu_west_1.qualys_secret_arn
  }
}

output "sns_topic_arns" {
  description = "Notifications topic per region."
  value = {
    "us-east-1" = module.scanner_us_east_1.sns_topic_arn
    "us-west-2" = module.scanner_us_west_2.sns_topic_arn
    "eu-west-1" = module.scanner_eu_west_1.sns_topic_arn
  }
}

output "cloudtrail_name" {
  description = "The trail, when create_cloudtrail is true (null otherwise)."
  value       = module.scanner_us_east_1.cloudtrail_name
}
