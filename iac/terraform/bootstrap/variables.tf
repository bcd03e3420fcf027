variable "region" {
  description = "AWS region of the state bucket, lock table and ECR repositories."
  type        = string
}

variable "prefix" {
  description = "Project prefix: ECR repositories {prefix}-backend|frontend, {prefix}-terraform-state, {prefix}-terraform-locks."
  type        = string
  default     = "ublog"
}

variable "state_bucket" {
  description = "Name of the Terraform state bucket (default {prefix}-terraform-state; bucket names are global, so you may need e.g. a suffix with your account id)."
  type        = string
  default     = null
}

variable "lock_table" {
  description = "DynamoDB table for Terraform state locks and ublog-ops deploy locks (default {prefix}-terraform-locks)."
  type        = string
  default     = null
}

variable "github_repository" {
  description = "GitHub repository (owner/name) whose workflows may assume the deploy role. null: no OIDC provider or role."
  type        = string
  default     = null
}

variable "github_subjects" {
  description = "OIDC subject patterns (after repo:<owner/name>:) allowed to assume the deploy role, e.g. environment:alpha or ref:refs/heads/main."
  type        = list(string)
  default     = ["ref:refs/heads/main", "environment:*"]
}

variable "create_github_oidc_provider" {
  description = "Create the token.actions.githubusercontent.com OIDC provider (false if the account already has one)."
  type        = bool
  default     = true
}

variable "app_envs" {
  description = "App envs the deploy role may operate (clusters, services, roles, log groups are scoped to them). Add an env here before its first deploy."
  type        = list(string)
  default     = ["alpha"]
}

variable "ecr_keep_images" {
  description = "Tagged images kept per ECR repository (older ones expire; untagged ones expire after 14 days)."
  type        = number
  default     = 100
}

variable "tags" {
  description = "Extra tags for every resource."
  type        = map(string)
  default     = {}
}
