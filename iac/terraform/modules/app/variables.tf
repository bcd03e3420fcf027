variable "env" {
  description = "Name of the app env (e.g. alpha): cluster {env}-cluster, services {env}-{name}, host {env}.{domain}."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{0,30}$", var.env))
    error_message = "env must match [a-z][a-z0-9-]{0,30} (ublog_ops.naming.ENV_RE)."
  }
}

variable "base_env" {
  description = "Name of the base env this app env runs on (must equal base.base_name)."
  type        = string
}

variable "domain" {
  description = "Domain of the app envs; this env is served at https://{env}.{domain}."
  type        = string
}

variable "hosted_zone_name" {
  description = "Public Route53 zone that holds {env}.{domain} (default: domain)."
  type        = string
  default     = null
}

variable "prefix" {
  description = "Project prefix: images come from the ECR repositories {prefix}-backend and {prefix}-frontend."
  type        = string
  default     = "ublog"
}

variable "base" {
  description = "Outputs of the base stack (terraform_remote_state of live/base, workspace <base_env>)."
  type = object({
    base_name                = string
    vpc_id                   = string
    private_subnet_ids       = list(string)
    app_security_group_id    = string
    listener_arn             = string
    alb_dns_name             = string
    rds_address              = string
    rds_password_secret_name = string
    redis_host               = string
    assets_bucket_name       = string
  })
}

variable "listener_priority" {
  description = <<-EOT
    Priority of this env's first ALB listener rule (gunicorn; web-ui gets +1). Must be unique per base listener:
    use ublog_ops.iac_contract.listener_priority(env), i.e.
    python -c 'from ublog_ops.iac_contract import listener_priority; print(listener_priority("ENV"))'
  EOT
  type        = number

  validation {
    condition     = var.listener_priority >= 1 && var.listener_priority <= 49999 && floor(var.listener_priority) == var.listener_priority
    error_message = "listener_priority must be an integer in 1..49999 (the web-ui rule uses listener_priority + 1)."
  }
}

variable "image_tag" {
  description = "Image tag the task definitions are created with. Keep latest: the App Update pipeline (inv app.*) rolls out real tags, and a re-apply never touches what a service runs."
  type        = string
  default     = "latest"
}

variable "django_settings_module" {
  description = "DJANGO_SETTINGS_MODULE of the backend containers."
  type        = string
  default     = "backend.settings.production"
}

variable "backend_environment" {
  description = "Extra plain environment variables of the backend containers (never secrets)."
  type        = map(string)
  default     = {}
}

variable "log_retention_days" {
  description = "Retention of the /ecs/{env}/{name} log groups."
  type        = number
  default     = 30
}

variable "cpu_architecture" {
  description = "CPU architecture of the images (X86_64 or ARM64)."
  type        = string
  default     = "X86_64"
}

variable "spot_services" {
  description = "Services that run on FARGATE_SPOT instead of FARGATE (e.g. [\"default\"] for cheap workers)."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for s in var.spot_services : contains(["gunicorn", "default", "beat", "web-ui"], s)])
    error_message = "spot_services may only name the services gunicorn, default, beat, web-ui."
  }
}

variable "autoscaling_enabled" {
  description = "CPU target-tracking autoscaling for autoscaling_services (off by default)."
  type        = bool
  default     = false
}

variable "autoscaling_services" {
  description = "Services that autoscale when autoscaling_enabled."
  type        = list(string)
  default     = ["gunicorn", "default"]

  validation {
    condition     = alltrue([for s in var.autoscaling_services : contains(["gunicorn", "default", "beat", "web-ui"], s)])
    error_message = "autoscaling_services may only name the services gunicorn, default, beat, web-ui."
  }
}

variable "autoscaling_min_capacity" {
  description = "Minimum task count of an autoscaled service."
  type        = number
  default     = 1
}

variable "autoscaling_max_capacity" {
  description = "Maximum task count of an autoscaled service."
  type        = number
  default     = 4
}

variable "autoscaling_cpu_target" {
  description = "Average CPU utilisation (percent) autoscaling keeps a service at."
  type        = number
  default     = 60
}

variable "tags" {
  description = "Extra tags for every resource (env=<env> is always added)."
  type        = map(string)
  default     = {}
}
