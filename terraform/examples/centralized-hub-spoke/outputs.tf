output "qualys_secret_arn" {
  description = "The secret the hub's scanner reads; set a created one with the AWS CLI."
  value       = module.artifacts.qualys_secret_arn
}

output "hub_event_bus_arn" {
  description = "The hub's bus: other spokes' hub_event_bus_arn."
  value       = module.hub.hub_event_bus_arn
}

output "hub_scanner_role_arn" {
  description = "The hub scanner's role: other spokes' hub_scanner_role_arn."
  value       = module.hub.scanner_role_arn
}

output "hub_stack_outputs" {
  description = "Every output of the hub stack (ScannerFunctionName, ResultsBucketName, SNSTopicArn, ...)."
  value       = module.hub.stack_outputs
}
