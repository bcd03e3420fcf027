# `terraform test` with a mocked AWS provider: plan and apply the base stack, then re-apply it and check the
# database password stays the one the instance was created with. Needs the hashicorp/aws provider for its
# schema (no AWS calls): see iac/README.md, "Validation".

mock_provider "aws" {
  mock_data "aws_availability_zones" {
    defaults = { names = ["eu-west-1a", "eu-west-1b", "eu-west-1c"] }
  }
  mock_data "aws_region" {
    defaults = { name = "eu-west-1" }
  }
  mock_resource "aws_lb" {
    defaults = { arn = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:loadbalancer/app/dev-alb/0123456789abcdef" }
  }
}

variables {
  base_env        = "dev"
  certificate_arn = "arn:aws:acm:eu-west-1:123456789012:certificate/00000000-0000-0000-0000-000000000000"
}

run "create" {
  command = apply

  assert {
    condition     = [for s in aws_subnet.private : s.tags["Name"]] == ["dev-private-1", "dev-private-2"]
    error_message = "private subnets are dev-private-1 and dev-private-2"
  }

  assert {
    condition     = alltrue([for s in concat(aws_subnet.private, aws_subnet.public) : s.tags["env"] == "dev"])
    error_message = "subnets are tagged env=dev"
  }

  assert {
    condition     = toset([for s in aws_subnet.private : s.availability_zone]) == toset(["eu-west-1a", "eu-west-1b"])
    error_message = "the private subnets span two AZs"
  }

  assert {
    condition     = aws_db_instance.this.storage_encrypted && !aws_db_instance.this.publicly_accessible
    error_message = "RDS is encrypted and private"
  }

  assert {
    condition     = jsondecode(aws_secretsmanager_secret_version.db_password.secret_string).password == aws_db_instance.this.password
    error_message = "the secret holds the instance's master password"
  }

  assert {
    condition     = aws_db_instance.this.password == data.aws_secretsmanager_random_password.db.random_password
    error_message = "the first apply uses the generated password"
  }

  assert {
    condition     = output.rds_password_secret_name == "dev-rds-password" && output.assets_bucket_name == "ublog-dev-assets"
    error_message = "outputs name the secret and the bucket"
  }
}

# Every plan draws a new random password; a re-apply must keep the one the instance and the secret have.
run "reapply_keeps_the_password" {
  command = apply

  assert {
    condition     = aws_db_instance.this.password != data.aws_secretsmanager_random_password.db.random_password
    error_message = "a newly drawn password reached the instance: re-applying would change the DB password"
  }

  assert {
    condition     = jsondecode(aws_secretsmanager_secret_version.db_password.secret_string).password == aws_db_instance.this.password
    error_message = "the secret and the instance disagree about the password"
  }
}
