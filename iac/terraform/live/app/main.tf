# Root module of an app env. One Terraform workspace per app env (`alpha`, ...), state in S3 (the same bucket as
# the base stack; `inv tf.init --stack app --env alpha` supplies this partial config):
#   terraform init -backend-config=bucket=<state bucket> -backend-config=key=app.tfstate \
#                  -backend-config=workspace_key_prefix=app -backend-config=region=<region> \
#                  -backend-config=dynamodb_table=<lock table> -backend-config=encrypt=true
#   terraform workspace select -or-create alpha
#   terraform plan -var-file=envs/alpha.tfvars
# State of workspace alpha: s3://<bucket>/app/alpha/app.tfstate.
#
# Base -> app link: the base stack's outputs are read from its state, s3://<bucket>/base/<base_env>/base.tfstate
# (key base.tfstate, workspace_key_prefix base, workspace = base_env). Apply the base env first.

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
      stack      = "app"
    }
  }
}

locals {
  state_bucket = coalesce(var.state_bucket, "${var.prefix}-terraform-state")
  state_region = coalesce(var.state_region, var.region)
}

data "terraform_remote_state" "base" {
  backend   = "s3"
  workspace = var.base_env

  config = {
    bucket               = local.state_bucket
    key                  = "base.tfstate"
    workspace_key_prefix = "base"
    region               = local.state_region
  }

  # Guard: state of app env X must live in workspace X, or a plan for X would rewrite another env.
  lifecycle {
    precondition {
      condition     = terraform.workspace == var.env
      error_message = "Terraform workspace is not the app env: run `terraform workspace select -or-create <env>` (or use inv tf.* --env)."
    }
  }
}

module "app" {
  source = "../../modules/app"

  env                  = var.env
  base_env             = var.base_env
  domain               = var.domain
  hosted_zone_name     = var.hosted_zone_name
  prefix               = var.prefix
  base                 = data.terraform_remote_state.base.outputs
  listener_priority    = var.listener_priority
  image_tag            = var.image_tag
  backend_environment  = var.backend_environment
  spot_services        = var.spot_services
  autoscaling_enabled  = var.autoscaling_enabled
  autoscaling_services = var.autoscaling_services
  tags                 = var.tags
}

