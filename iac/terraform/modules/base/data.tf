# Data services shared by the app envs: PostgreSQL (one database per app env, {env}-db), Redis, an assets bucket.

# --- PostgreSQL ---------------------------------------------------------------------------------------------
# The master password is generated here, kept in Terraform state (encrypted S3 backend) and in Secrets Manager
# as {base}-rds-password (JSON: username, password, host, port, engine); it is never an output. App envs
# reference the secret, not the value.
resource "random_password" "db" {
  length           = 32
  special          = true
  override_special = "!#$%&*()-_=+[]{}<>:?"
}

resource "aws_secretsmanager_secret" "db_password" {
  name                    = "${local.b}-rds-password"
  description             = "Master password of the ${local.b}-rds PostgreSQL instance"
  recovery_window_in_days = var.secret_recovery_window_days

  tags = merge(local.tags, { Name = "${local.b}-rds-password" })
}

# JSON in the layout RDS tools expect; the app stacks read its "password" key (ECS secret <arn>:password::).
resource "aws_secretsmanager_secret_version" "db_password" {
  secret_id = aws_secretsmanager_secret.db_password.id
  secret_string = jsonencode({
    username             = var.db_username
    password             = random_password.db.result
    engine               = "postgres"
    host                 = aws_db_instance.this.address
    port                 = aws_db_instance.this.port
    dbInstanceIdentifier = aws_db_instance.this.identifier
  })
}

resource "aws_db_subnet_group" "this" {
  name       = "${local.b}-rds"
  subnet_ids = aws_subnet.private[*].id

  tags = merge(local.tags, { Name = "${local.b}-rds" })
}

resource "aws_db_instance" "this" {
  identifier                = "${local.b}-rds"
  engine                    = "postgres"
  engine_version            = var.db_engine_version
  instance_class            = var.db_instance_class
  allocated_storage         = var.db_allocated_storage
  max_allocated_storage     = var.db_max_allocated_storage
  storage_type              = "gp3"
  storage_encrypted         = true
  username                  = var.db_username
  password                  = random_password.db.result
  port                      = 5432
  db_subnet_group_name      = aws_db_subnet_group.this.name
  vpc_security_group_ids    = [aws_security_group.rds.id]
  publicly_accessible       = false
  multi_az                  = var.db_multi_az
  backup_retention_period   = var.db_backup_retention_days
  copy_tags_to_snapshot     = true
  deletion_protection       = var.deletion_protection
  skip_final_snapshot       = false
  final_snapshot_identifier = "${local.b}-rds-final"
  apply_immediately         = false

  tags = merge(local.tags, { Name = "${local.b}-rds" })
}

# --- Redis --------------------------------------------------------------------------------------------------
resource "aws_elasticache_subnet_group" "this" {
  name       = "${local.b}-redis"
  subnet_ids = aws_subnet.private[*].id

  tags = merge(local.tags, { Name = "${local.b}-redis" })
}

resource "aws_elasticache_replication_group" "this" {
  replication_group_id       = "${local.b}-redis"
  description                = "Redis (celery broker, cache) of ${local.b}"
  engine                     = "redis"
  engine_version             = var.redis_engine_version
  node_type                  = var.redis_node_type
  num_cache_clusters         = 1
  port                       = 6379
  subnet_group_name          = aws_elasticache_subnet_group.this.name
  security_group_ids         = [aws_security_group.redis.id]
  at_rest_encryption_enabled = true
  automatic_failover_enabled = false

  tags = merge(local.tags, { Name = "${local.b}-redis" })
}

# --- Assets bucket ------------------------------------------------------------------------------------------
resource "aws_s3_bucket" "assets" {
  bucket = "${var.prefix}-${local.b}-assets"

  tags = merge(local.tags, { Name = "${var.prefix}-${local.b}-assets" })
}

resource "aws_s3_bucket_public_access_block" "assets" {
  bucket                  = aws_s3_bucket.assets.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_ownership_controls" "assets" {
  bucket = aws_s3_bucket.assets.id

  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "assets" {
  bucket = aws_s3_bucket.assets.id

  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm = "AES256"
    }
  }
}
