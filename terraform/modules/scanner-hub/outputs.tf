output "hub_event_bus_arn" {
  description = "The hub's bus (HubEventBusArn): each spoke's hub_event_bus_arn."
  value       = aws_cloudformation_stack.hub.outputs["HubEventBusArn"]
}

output "scanner_role_arn" {
  description = "The hub scanner's role (ScannerRoleArn): each spoke's hub_scanner_role_arn."
  value       = aws_cloudformation_stack.hub.outputs["ScannerRoleArn"]
}

output "stack_outputs" {
  description = "Every output of the hub stack (ScannerFunctionName, ResultsBucketName, SNSTopicArn, ...)."
  value       = aws_cloudformation_stack.hub.outputs
}
