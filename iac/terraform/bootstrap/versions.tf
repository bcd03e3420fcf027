terraform {
  required_version = ">= 1.5"

  # Bootstrap creates the state bucket, so its own state starts local (terraform.tfstate here, git-ignored).
  # After the first apply you may move it into the bucket: add `backend "s3" {}` and run
  #   terraform init -migrate-state -backend-config=bucket=<state_bucket> -backend-config=key=bootstrap.tfstate \
  #                  -backend-config=region=<region> -backend-config=dynamodb_table=<lock_table>

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
      stack      = "bootstrap"
    }
  }
}
