# Set by deployer from cluster.yaml (`azure.resource_group`, `azure.cluster`,
# `azure.subscription_id`): do not repeat them under `terraform.variables`.

variable "resource_group_name" {
  type        = string
  description = "Resource group that holds the cluster (cluster.yaml `azure.resource_group`); created here."
  validation {
    condition     = can(regex("^[-\\w\\.\\(\\)]{1,89}[-\\w\\(\\)]$", var.resource_group_name))
    error_message = "resource_group_name must be 1-90 letters, digits, '-', '_', '.', '(' or ')', not ending in '.'."
  }
}

variable "cluster_name" {
  type        = string
  description = "AKS cluster name (cluster.yaml `azure.cluster`); prefixes every resource's name."
  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{0,38}[a-z0-9]$", var.cluster_name))
    error_message = "cluster_name must be 2-40 characters: lowercase letters, digits and '-', starting with a letter."
  }
}

variable "subscription_id" {
  type        = string
  description = "Azure subscription ID (cluster.yaml `azure.subscription_id`; null: the one `az` is logged in to)."
  default     = null
  nullable    = true
  validation {
    condition     = var.subscription_id == null ? true : can(regex("^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", var.subscription_id))
    error_message = "subscription_id must be a GUID such as 00000000-0000-0000-0000-000000000000."
  }
}

variable "location" {
  type        = string
  description = "Azure region of every resource, e.g. westeurope."
  validation {
    condition     = can(regex("^[a-z]+[a-z0-9]*$", var.location))
    error_message = "location must be an Azure region name such as westeurope (lowercase, no spaces)."
  }
}

# --- the cluster -----------------------------------------------------------------------------

variable "kubernetes_version" {
  type        = string
  description = "Kubernetes version of the AKS control plane (null: AKS's default)."
  default     = null
  nullable    = true
}

variable "core_node" {
  type = object({
    vm_size   = optional(string, "Standard_E4s_v5")
    min_count = optional(number, 1)
    max_count = optional(number, 3)
  })
  description = "The system node pool for the hub, proxy and support services (always at least one node)."
  default     = {}
  validation {
    condition     = var.core_node.min_count >= 1 && var.core_node.max_count >= var.core_node.min_count
    error_message = "core_node needs min_count >= 1 and max_count >= min_count."
  }
}

variable "user_node_pools" {
  type = map(object({
    vm_size   = string
    min_count = optional(number, 0)
    max_count = optional(number, 20)
  }))
  description = "Node pools for user servers, by name (at most 8 of [a-z0-9]: an AKS rule); they scale from 0."
  default = {
    "usere4" = { vm_size = "Standard_E4s_v5" }
  }
  validation {
    condition     = alltrue([for k, p in var.user_node_pools : can(regex("^[a-z][a-z0-9]{0,7}$", k)) && p.min_count >= 0 && p.max_count >= max(p.min_count, 1)])
    error_message = "user_node_pools: names are 1-8 of [a-z0-9] starting with a letter; min_count >= 0 and max_count >= max(min_count, 1)."
  }
}

variable "dask_node_pools" {
  type = map(object({
    vm_size   = string
    min_count = optional(number, 0)
    max_count = optional(number, 50)
  }))
  description = "Node pools for dask workers, by name (at most 8 of [a-z0-9]); they scale from 0. Empty: no dask nodes."
  default     = {}
  validation {
    condition     = alltrue([for k, p in var.dask_node_pools : can(regex("^[a-z][a-z0-9]{0,7}$", k)) && p.min_count >= 0 && p.max_count >= max(p.min_count, 1)])
    error_message = "dask_node_pools: names are 1-8 of [a-z0-9] starting with a letter; min_count >= 0 and max_count >= max(min_count, 1)."
  }
}

# --- storage and identities ------------------------------------------------------------------

variable "home_share_quota_gb" {
  type        = number
  description = "Size of the Azure Files NFS share for home directories, in GiB; 0: no share."
  default     = 0
  validation {
    condition     = var.home_share_quota_gb == 0 || var.home_share_quota_gb >= 100
    error_message = "home_share_quota_gb must be 0 (no share) or at least 100 (the NFS minimum)."
  }
}

variable "deployer_principal_object_id" {
  type        = string
  description = "Object ID of the service principal deployer logs in as (cluster.yaml `azure.key`); it is made cluster admin. Null: none."
  default     = null
  nullable    = true
}

variable "tags" {
  type        = map(string)
  description = "Tags added to every resource."
  default     = {}
}
