output "cluster_name" {
  description = "ECS cluster of this env."
  value       = aws_ecs_cluster.this.name
}

output "service_names" {
  description = "ECS services by short name."
  value       = { for name, service in aws_ecs_service.this : name => service.name }
}

output "task_definition_families" {
  description = "Task-definition families by short name."
  value       = { for name, td in aws_ecs_task_definition.this : name => td.family }
}

output "execution_role_arn" {
  description = "Task execution role."
  value       = aws_iam_role.execution.arn
}

output "task_role_arn" {
  description = "Task role."
  value       = aws_iam_role.task.arn
}

output "url" {
  description = "Public URL of this env."
  value       = "https://${local.host}"
}

output "listener_priorities" {
  description = "ALB listener-rule priorities by service."
  value       = { for name, rule in aws_lb_listener_rule.this : name => rule.priority }
}

output "task_definition_arns" {
  description = "Task-definition revisions registered by this stack, by short name (services keep running whatever the App Update pipeline deployed)."
  value       = { for name, td in aws_ecs_task_definition.this : name => td.arn }
}
