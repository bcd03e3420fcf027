# App env `alpha` on base env `dev` (workspace alpha): terraform plan -var-file=envs/alpha.tfvars
region   = "eu-west-1"
env      = "alpha"
base_env = "dev"
domain   = "example.com"
prefix   = "ublog"

# = ublog_ops.iac_contract.listener_priority("alpha"); rules: gunicorn 30910, web-ui 30911.
# New env: python -c 'from ublog_ops.iac_contract import listener_priority; print(listener_priority("ENV"))'
listener_priority = 30910
