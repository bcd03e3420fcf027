output "state_bucket" {
  description = "Pass as -backend-config=bucket=... (UBLOG_TF_STATE_BUCKET)."
  value       = aws_s3_bucket.state.bucket
}

output "lock_table" {
  description = "Pass as -backend-config=dynamodb_table=... (UBLOG_TF_LOCK_TABLE; also the ublog-ops deploy lock)."
  value       = aws_dynamodb_table.locks.name
}

output "region" {
  description = "Region of the state bucket (UBLOG_TF_STATE_REGION)."
  value       = var.region
}

output "ecr_repository_urls" {
  description = "Push images here."
  value       = { for name, repo in aws_ecr_repository.this : name => repo.repository_url }
}

output "deploy_role_arn" {
  description = "role-to-assume for aws-actions/configure-aws-credentials in the deploy workflows (null without github_repository)."
  value       = one(aws_iam_role.deploy[*].arn)
}
