output "stack_outputs" {
  description = "Every output of the spoke stack."
  value       = aws_cloudformation_stack.spoke.outputs
}
