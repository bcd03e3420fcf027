# Base env `dev` (workspace dev): terraform plan -var-file=envs/dev.tfvars
region          = "eu-west-1"
base_env        = "dev"
prefix          = "ublog"
certificate_arn = "arn:aws:acm:eu-west-1:123456789012:certificate/00000000-0000-0000-0000-000000000000"

# A dev base can be thrown away: no deletion protection, the secret is deleted at once.
deletion_protection         = false
secret_recovery_window_days = 0
