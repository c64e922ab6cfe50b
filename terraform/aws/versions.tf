terraform {
  required_version = ">= 1.5.0"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 5.60"
    }
  }

  # No backend block here: `deployer provision` adds the backend named in cluster.yaml
  # (s3 for real clusters) and keys the state by the cluster's name.
}
