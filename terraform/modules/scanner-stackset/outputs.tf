output "stack_set_id" {
  description = "The StackSet's id."
  value       = aws_cloudformation_stack_set.scanner.stack_set_id
}

output "instance_regions" {
  description = "The regions with stack instances in the OUs."
  value       = [for instance in aws_cloudformation_stack_set_instance.scanner : instance.region]
}
