variable "base_env" {
  description = "Name of the base env (e.g. dev). Every resource is named from it and tagged env=<base_env>."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{0,30}$", var.base_env))
    error_message = "base_env must match [a-z][a-z0-9-]{0,30} (ublog_ops.naming.ENV_RE)."
  }
}

variable "prefix" {
  description = "Project prefix (ECR repositories {prefix}-backend|frontend, assets bucket {prefix}-{base_env}-assets)."
  type        = string
  default     = "ublog"
}

variable "certificate_arn" {
  description = "ACM certificate ARN for the HTTPS listener (must cover every {env}.{domain} served by this base)."
  type        = string
}

variable "vpc_cidr" {
  description = "CIDR block of the VPC; subnets are /24s carved from it."
  type        = string
  default     = "10.0.0.0/16"
}

variable "az_count" {
  description = "Number of availability zones (one public and one private subnet in each)."
  type        = number
  default     = 2

  validation {
    condition     = var.az_count >= 2 && var.az_count <= 6
    error_message = "az_count must be between 2 and 6 (the ALB and RDS subnet groups need two AZs)."
  }
}

variable "db_instance_class" {
  description = "RDS instance class."
  type        = string
  default     = "db.t4g.micro"
}

variable "db_engine_version" {
  description = "PostgreSQL major version of the RDS instance."
  type        = string
  default     = "15"
}

variable "db_allocated_storage" {
  description = "Initial RDS storage in GiB (storage autoscaling grows it up to db_max_allocated_storage)."
  type        = number
  default     = 20
}

variable "db_max_allocated_storage" {
  description = "Upper bound of RDS storage autoscaling in GiB."
  type        = number
  default     = 100
}

variable "db_username" {
  description = "Master user name of the RDS instance (the password is generated into Secrets Manager)."
  type        = string
  default     = "ublog"
}

variable "db_multi_az" {
  description = "Run the RDS instance Multi-AZ."
  type        = bool
  default     = false
}

variable "db_backup_retention_days" {
  description = "Days of automated RDS backups."
  type        = number
  default     = 7
}

variable "deletion_protection" {
  description = "Protect the RDS instance and the ALB from deletion (turn off before destroying a base env)."
  type        = bool
  default     = true
}

variable "secret_recovery_window_days" {
  description = "Recovery window of the RDS password secret when it is deleted (0 deletes it at once)."
  type        = number
  default     = 7
}

variable "redis_node_type" {
  description = "ElastiCache node type."
  type        = string
  default     = "cache.t4g.micro"
}

variable "redis_engine_version" {
  description = "Redis engine version."
  type        = string
  default     = "7.1"
}

variable "ssl_policy" {
  description = "TLS policy of the HTTPS listener."
  type        = string
  default     = "ELBSecurityPolicy-TLS13-1-2-2021-06"
}

variable "tags" {
  description = "Extra tags for every resource (env=<base_env> is always added and cannot be overridden)."
  type        = map(string)
  default     = {}
}
