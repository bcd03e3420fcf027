variable "region" {
  description = "AWS region of the base env."
  type        = string
}

variable "base_env" {
  description = "Name of the base env; must equal the Terraform workspace."
  type        = string
}

variable "prefix" {
  description = "Project prefix (ECR repositories, assets bucket)."
  type        = string
  default     = "ublog"
}

variable "certificate_arn" {
  description = "ACM certificate ARN for the HTTPS listener (a wildcard *.{domain} covers every app env)."
  type        = string
}

variable "vpc_cidr" {
  description = "CIDR block of the VPC."
  type        = string
  default     = "10.0.0.0/16"
}

variable "az_count" {
  description = "Number of availability zones."
  type        = number
  default     = 2
}

variable "db_instance_class" {
  description = "RDS instance class."
  type        = string
  default     = "db.t4g.micro"
}

variable "db_multi_az" {
  description = "Run the RDS instance Multi-AZ."
  type        = bool
  default     = false
}

variable "deletion_protection" {
  description = "Protect the RDS instance and the ALB from deletion."
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

variable "tags" {
  description = "Extra tags for every resource."
  type        = map(string)
  default     = {}
}
