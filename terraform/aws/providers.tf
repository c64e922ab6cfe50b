locals {
  # An emulator (moto, LocalStack) answers every service on one URL.
  emulated = var.endpoint_url != null
}

provider "aws" {
  region = var.region

  default_tags {
    tags = merge(var.tags, {
      "deployer/cluster" = var.cluster_name
      "managed-by"       = "deployer"
    })
  }

  # Settings that only apply when `endpoint_url` points at an AWS-compatible emulator.
  skip_credentials_validation = local.emulated
  skip_metadata_api_check     = local.emulated
  skip_requesting_account_id  = local.emulated
  s3_use_path_style           = local.emulated

  dynamic "endpoints" {
    for_each = local.emulated ? [var.endpoint_url] : []
    content {
      autoscaling = endpoints.value
      ec2         = endpoints.value
      efs         = endpoints.value
      eks         = endpoints.value
      elb         = endpoints.value
      elbv2       = endpoints.value
      iam         = endpoints.value
      kms         = endpoints.value
      logs        = endpoints.value
      s3          = endpoints.value
      sts         = endpoints.value
    }
  }
}
