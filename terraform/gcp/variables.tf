# Set by deployer from cluster.yaml (`gcp.project`, `gcp.cluster`, `gcp.zone`): do not repeat
# them under `terraform.variables`.

variable "project_id" {
  type        = string
  description = "GCP project ID holding the cluster (cluster.yaml `gcp.project`)."
  validation {
    condition     = can(regex("^[a-z][-a-z0-9]{4,28}[a-z0-9]$", var.project_id))
    error_message = "project_id must be a project ID (6-30 lowercase letters, digits and '-'), not its name or number."
  }
}

variable "cluster_name" {
  type        = string
  description = "GKE cluster name (cluster.yaml `gcp.cluster`); prefixes every resource's name."
  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{0,38}[a-z0-9]$", var.cluster_name))
    error_message = "cluster_name must be 2-40 characters: lowercase letters, digits and '-', starting with a letter."
  }
}

variable "location" {
  type        = string
  description = "A zone (us-central1-b: a zonal cluster) or a region (us-central1: a regional cluster); cluster.yaml `gcp.zone`."
  validation {
    condition     = can(regex("^[a-z]+-[a-z]+[0-9](-[a-z])?$", var.location))
    error_message = "location must be a zone such as us-central1-b or a region such as us-central1."
  }
}

# --- the cluster -----------------------------------------------------------------------------

variable "release_channel" {
  type        = string
  description = "GKE release channel that picks Kubernetes versions and upgrades."
  default     = "REGULAR"
  validation {
    condition     = contains(["RAPID", "REGULAR", "STABLE"], var.release_channel)
    error_message = "release_channel must be RAPID, REGULAR or STABLE."
  }
}

variable "deletion_protection" {
  type        = bool
  description = "Refuse to delete the cluster (set false before `deployer provision destroy`)."
  default     = true
}

variable "core_node" {
  type = object({
    machine_type = optional(string, "n2-highmem-4")
    min_count    = optional(number, 1)
    max_count    = optional(number, 5)
  })
  description = "The node pool for the hub, proxy and support services (always at least one node)."
  default     = {}
  validation {
    condition     = var.core_node.min_count >= 1 && var.core_node.max_count >= var.core_node.min_count
    error_message = "core_node needs min_count >= 1 and max_count >= min_count."
  }
}

variable "user_node_pools" {
  type = map(object({
    machine_type = string
    min_count    = optional(number, 0)
    max_count    = optional(number, 20)
    preemptible  = optional(bool, false)
  }))
  description = "Node pools for user servers, by name; they scale from 0."
  default = {
    "n2-highmem-4" = { machine_type = "n2-highmem-4" }
  }
  validation {
    condition     = alltrue([for k, p in var.user_node_pools : can(regex("^[a-z0-9-]{1,20}$", k)) && p.min_count >= 0 && p.max_count >= max(p.min_count, 1)])
    error_message = "user_node_pools: names are 1-20 of [a-z0-9-]; min_count >= 0 and max_count >= max(min_count, 1)."
  }
}

variable "dask_node_pools" {
  type = map(object({
    machine_type = string
    min_count    = optional(number, 0)
    max_count    = optional(number, 100)
    preemptible  = optional(bool, true)
  }))
  description = "Node pools for dask workers, by name; they scale from 0. Empty: no dask nodes."
  default     = {}
  validation {
    condition     = alltrue([for k, p in var.dask_node_pools : can(regex("^[a-z0-9-]{1,20}$", k)) && p.min_count >= 0 && p.max_count >= max(p.min_count, 1)])
    error_message = "dask_node_pools: names are 1-20 of [a-z0-9-]; min_count >= 0 and max_count >= max(min_count, 1)."
  }
}

# --- hubs, storage, identities ---------------------------------------------------------------

variable "hub_namespaces" {
  type        = list(string)
  description = "Hubs (namespaces) whose users' service account gets a Google service account through workload identity."
  default     = []
  validation {
    condition     = alltrue([for h in var.hub_namespaces : can(regex("^[a-z0-9]([-a-z0-9]{0,51}[a-z0-9])?$", h))])
    error_message = "hub_namespaces must be hub names (DNS labels of at most 53 characters)."
  }
}

variable "user_service_account" {
  type        = string
  description = "Name of the Kubernetes service account that user servers run as in each hub namespace."
  default     = "user-sa"
}

variable "user_buckets" {
  type = map(object({
    delete_after_days = optional(number)
    hubs              = optional(list(string), [])
  }))
  description = "Cloud Storage buckets for users, by short name; `hubs` get read/write through workload identity."
  default     = {}
  validation {
    condition     = alltrue([for k, b in var.user_buckets : can(regex("^[a-z0-9-]{1,20}$", k)) && (b.delete_after_days == null ? true : b.delete_after_days >= 1)])
    error_message = "user_buckets: names are 1-20 of [a-z0-9-]; delete_after_days must be >= 1 when set."
  }
}

variable "filestore" {
  type = object({
    enabled     = optional(bool, false)
    tier        = optional(string, "BASIC_HDD")
    capacity_gb = optional(number, 1024)
  })
  description = "A Filestore instance for home directories (off by default)."
  default     = {}
  validation {
    condition     = contains(["BASIC_HDD", "BASIC_SSD", "ZONAL", "REGIONAL", "ENTERPRISE"], var.filestore.tier) && var.filestore.capacity_gb >= 1024
    error_message = "filestore.tier must be a Filestore tier (BASIC_HDD, BASIC_SSD, ZONAL, REGIONAL, ENTERPRISE) and capacity_gb at least 1024."
  }
}

variable "labels" {
  type        = map(string)
  description = "Labels added to every resource that takes labels."
  default     = {}
}
