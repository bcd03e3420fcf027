# Read by the app stack through terraform_remote_state (live/app/main.tf). Keep in sync with
# ublog_ops.iac_contract.BASE_OUTPUTS (tests/iac checks it).

output "base_name" {
  value = module.base.base_name
}

output "vpc_id" {
  value = module.base.vpc_id
}

output "private_subnet_ids" {
  value = module.base.private_subnet_ids
}

output "app_security_group_id" {
  value = module.base.app_security_group_id
}

output "listener_arn" {
  value = module.base.listener_arn
}

output "alb_dns_name" {
  value = module.base.alb_dns_name
}

output "rds_address" {
  value = module.base.rds_address
}

output "rds_password_secret_name" {
  value = module.base.rds_password_secret_name
}

output "redis_host" {
  value = module.base.redis_host
}

output "assets_bucket_name" {
  value = module.base.assets_bucket_name
}
