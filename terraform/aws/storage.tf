# --- S3 buckets for users ----------------------------------------------------------------------

resource "aws_s3_bucket" "user" {
  for_each = var.user_buckets

  bucket = "${var.cluster_name}-${each.key}"
}

resource "aws_s3_bucket_lifecycle_configuration" "user" {
  for_each = { for k, b in var.user_buckets : k => b if b.delete_after_days != null }

  bucket = aws_s3_bucket.user[each.key].id

  rule {
    id     = "delete-after-${each.value.delete_after_days}-days"
    status = "Enabled"
    filter {}
    expiration {
      days = each.value.delete_after_days
    }
  }
}

locals {
  # (hub, bucket) pairs: which hub's role may read and write which bucket
  hub_buckets = merge([
    for bucket, b in var.user_buckets : {
      for hub in b.hubs : "${hub}/${bucket}" => { hub = hub, bucket = bucket }
    }
  ]...)
}

data "aws_iam_policy_document" "hub_bucket" {
  for_each = local.hub_buckets

  statement {
    actions   = ["s3:ListBucket"]
    resources = [aws_s3_bucket.user[each.value.bucket].arn]
  }
  statement {
    actions   = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"]
    resources = ["${aws_s3_bucket.user[each.value.bucket].arn}/*"]
  }
}

resource "aws_iam_role_policy" "hub_bucket" {
  for_each = local.hub_buckets

  name   = "bucket-${each.value.bucket}"
  role   = aws_iam_role.hub[each.value.hub].id
  policy = data.aws_iam_policy_document.hub_bucket[each.key].json

  lifecycle {
    precondition {
      condition     = contains(var.hub_namespaces, each.value.hub)
      error_message = "user_buckets.${each.value.bucket}.hubs names hub ${each.value.hub}, which is not in hub_namespaces."
    }
  }
}

# --- EFS for home directories -------------------------------------------------------------------

resource "aws_security_group" "efs" {
  count = var.enable_efs ? 1 : 0

  name        = "${var.cluster_name}-efs"
  description = "NFS from the cluster's nodes to EFS"
  vpc_id      = aws_vpc.main.id

  ingress {
    description = "NFS from inside the VPC"
    from_port   = 2049
    to_port     = 2049
    protocol    = "tcp"
    cidr_blocks = [var.vpc_cidr]
  }
}

resource "aws_efs_file_system" "homes" {
  count = var.enable_efs ? 1 : 0

  creation_token = "${var.cluster_name}-homes"
  encrypted      = true

  tags = { Name = "${var.cluster_name}-homes" }
}

resource "aws_efs_mount_target" "homes" {
  count = var.enable_efs ? length(aws_subnet.public) : 0

  file_system_id  = aws_efs_file_system.homes[0].id
  subnet_id       = aws_subnet.public[count.index].id
  security_groups = [aws_security_group.efs[0].id]
}
