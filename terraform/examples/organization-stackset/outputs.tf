output "qualys_secret_arns" {
  description = "The shared secret per region; set each created one with the AWS CLI."
  value = {
    "us-east-1" = module.artifacts_us_east_1.qualys_secret_arn
    "eu-west-1" = module.artifacts_eu_west_1.qualys_secret_arn
  }
}

output "stack_set_id" {
  description = "The StackSet's id."
  value       = module.stackset.stack_set_id
}

output "instance_regions" {
  description = "Regions with stack instances in the OUs."
  value       = module.stackset.instance_regions
}
