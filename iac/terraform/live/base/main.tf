# Root module of a base env. One Terraform workspace per base env (`dev`, ...), state in S3
# (`inv tf.init --stack base --env dev` supplies this partial config):
#   terraform init -backend-config=bucket=<state bucket> -backend-config=key=base.tfstate \
#                  -backend-config=workspace_key_prefix=base -backend-config=region=<region> \
#                  -backend-config=dynamodb_table=<lock table> -backend-config=encrypt=true
#   terraform workspace select -or-create dev
#   terraform plan -var-file=envs/dev.tfvars
# State of workspace dev: s3://<bucket>/base/dev/base.tfstate, which the app stack reads (live/app/main.tf).

terraform {
  required_version = ">= 1.5"

  backend "s3" {}

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 5.0"
    }
  }
}

provider "aws" {
  region = var.region

  default_tags {
    tags = {
      managed-by = "terraform"
      stack      = "base"
    }
  }
}

module "base" {
  source = "../../modules/base"

  base_env                    = var.base_env
  prefix                      = var.prefix
  certificate_arn             = var.certificate_arn
  vpc_cidr                    = var.vpc_cidr
  az_count                    = var.az_count
  db_instance_class           = var.db_instance_class
  db_multi_az                 = var.db_multi_az
  deletion_protection         = var.deletion_protection
  secret_recovery_window_days = var.secret_recovery_window_days
  redis_node_type             = var.redis_node_type
  tags                        = var.tags
}

# Guard: state of base env X must live in workspace X (the app stack reads workspace <base_env>).
data "aws_caller_identity" "current" {
  lifecycle {
    precondition {
      condition     = terraform.workspace == var.base_env
      error_message = "Terraform workspace is not the base env: run `terraform workspace select -or-create <base_env>` (or use inv tf.* --env)."
    }
  }
}
