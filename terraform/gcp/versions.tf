terraform {
  required_version = ">= 1.5.0"

  required_providers {
    google = {
      source  = "hashicorp/google"
      version = ">= 5.40, < 7.0"
    }
  }

  # No backend block here: `deployer provision` adds the backend named in cluster.yaml
  # (gcs for real clusters) and keys the state by the cluster's name.
}

provider "google" {
  project = var.project_id
  region  = local.region
}
