terraform {
  required_version = ">= 1.5.0"

  required_providers {
    azurerm = {
      source  = "hashicorp/azurerm"
      version = "~> 4.0"
    }
  }

  # No backend block here: `deployer provision` adds the backend named in cluster.yaml
  # (azurerm for real clusters) and keys the state by the cluster's name.
}

provider "azurerm" {
  features {}
  subscription_id = var.subscription_id
}
