# What the app stack needs (ublog_ops.iac_contract.BASE_OUTPUTS). The RDS password is not an output: app envs
# read it through the {base}-rds-password secret.

output "base_name" {
  description = "Name of this base env."
  value       = var.base_env
}

output "vpc_id" {
  description = "VPC id."
  value       = aws_vpc.this.id
}

output "private_subnet_ids" {
  description = "Private subnet ids (ECS tasks run here)."
  value       = aws_subnet.private[*].id
}

output "app_security_group_id" {
  description = "Security group of the ECS tasks ({base}-ecs-sg)."
  value       = aws_security_group.ecs.id
}

output "listener_arn" {
  description = "HTTPS listener the app envs attach their rules to."
  value       = aws_lb_listener.https.arn
}

output "alb_dns_name" {
  description = "DNS name of the ALB (target of the app envs' Route53 alias records)."
  value       = aws_lb.this.dns_name
}

output "rds_address" {
  description = "Host name of the PostgreSQL instance."
  value       = aws_db_instance.this.address
}

output "rds_password_secret_name" {
  description = "Secrets Manager secret holding the RDS master password."
  value       = aws_secretsmanager_secret.db_password.name
}

output "redis_host" {
  description = "Primary endpoint of Redis."
  value       = aws_elasticache_replication_group.this.primary_endpoint_address
}

output "assets_bucket_name" {
  description = "S3 assets bucket."
  value       = aws_s3_bucket.assets.bucket
}
