variable "region" {
  description = "AWS region of the app env (the base env's region)."
  type        = string
}

variable "env" {
  description = "Name of the app env; must equal the Terraform workspace."
  type        = string
}

variable "base_env" {
  description = "Base env this app env runs on (the base stack's workspace)."
  type        = string
}

variable "domain" {
  description = "Domain; the env is served at https://{env}.{domain}."
  type        = string
}

variable "hosted_zone_name" {
  description = "Public Route53 zone holding {env}.{domain} (default: domain)."
  type        = string
  default     = null
}

variable "prefix" {
  description = "Project prefix (ECR repositories {prefix}-backend|frontend, default state bucket)."
  type        = string
  default     = "ublog"
}

variable "state_bucket" {
  description = "S3 bucket holding the base stack's state: the bucket given to init (default {prefix}-terraform-state, as bootstrap creates)."
  type        = string
  default     = null
}

variable "state_region" {
  description = "Region of the state bucket (default: region)."
  type        = string
  default     = null
}

variable "listener_priority" {
  description = "First ALB listener-rule priority of this env: python -c 'from ublog_ops.iac_contract import listener_priority; print(listener_priority(\"ENV\"))'."
  type        = number
}

variable "image_tag" {
  description = "Image tag of the first task-definition revisions (keep latest; inv app.* deploys real tags)."
  type        = string
  default     = "latest"
}

variable "backend_environment" {
  description = "Extra plain environment variables of the backend containers (never secrets)."
  type        = map(string)
  default     = {}
}

variable "spot_services" {
  description = "Services that run on FARGATE_SPOT."
  type        = list(string)
  default     = []
}

variable "autoscaling_enabled" {
  description = "CPU autoscaling for autoscaling_services."
  type        = bool
  default     = false
}

variable "autoscaling_services" {
  description = "Services that autoscale when autoscaling_enabled."
  type        = list(string)
  default     = ["gunicorn", "default"]
}

variable "tags" {
  description = "Extra tags for every resource."
  type        = map(string)
  default     = {}
}
