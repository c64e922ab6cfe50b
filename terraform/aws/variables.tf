# Set by deployer from cluster.yaml (`aws.clusterName`, `aws.region`): do not repeat them
# under `terraform.variables`.

variable "cluster_name" {
  type        = string
  description = "EKS cluster name (cluster.yaml `aws.clusterName`); prefixes every resource's name."
  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{0,38}[a-z0-9]$", var.cluster_name))
    error_message = "cluster_name must be 2-40 characters: lowercase letters, digits and '-', starting with a letter."
  }
}

variable "region" {
  type        = string
  description = "AWS region of the cluster (cluster.yaml `aws.region`), e.g. us-west-2."
  validation {
    condition     = can(regex("^[a-z]{2}(-gov)?-[a-z]+-[0-9]$", var.region))
    error_message = "region must look like us-west-2."
  }
}

# --- the cluster -----------------------------------------------------------------------------

variable "kubernetes_version" {
  type        = string
  description = "Kubernetes minor version of the EKS control plane, e.g. \"1.31\"."
  default     = "1.31"
  validation {
    condition     = can(regex("^1\\.[0-9]{2}$", var.kubernetes_version))
    error_message = "kubernetes_version must be a minor version such as \"1.31\"."
  }
}

variable "vpc_cidr" {
  type        = string
  description = "Address range of the cluster's VPC; each availability zone gets a /20 of it."
  default     = "10.0.0.0/16"
  validation {
    condition     = can(cidrhost(var.vpc_cidr, 0)) && tonumber(split("/", var.vpc_cidr)[1]) <= 18
    error_message = "vpc_cidr must be a CIDR block of size /18 or larger, e.g. 10.0.0.0/16."
  }
}

variable "availability_zone_count" {
  type        = number
  description = "How many availability zones the cluster spans (EKS needs at least 2)."
  default     = 2
  validation {
    condition     = var.availability_zone_count >= 2 && var.availability_zone_count <= 4
    error_message = "availability_zone_count must be between 2 and 4."
  }
}

variable "api_public_access_cidrs" {
  type        = list(string)
  description = "Networks allowed to reach the Kubernetes API (the deployer's CI runners, operators)."
  default     = ["0.0.0.0/0"]
  validation {
    condition     = alltrue([for c in var.api_public_access_cidrs : can(cidrhost(c, 0))])
    error_message = "every entry of api_public_access_cidrs must be a CIDR block such as 203.0.113.0/24."
  }
}

# --- node groups -----------------------------------------------------------------------------

variable "core_node" {
  type = object({
    instance_type = optional(string, "r5.xlarge")
    min_size      = optional(number, 1)
    max_size      = optional(number, 3)
  })
  description = "The node group for the hub, proxy and support services (always at least one node)."
  default     = {}
  validation {
    condition     = var.core_node.min_size >= 1 && var.core_node.max_size >= var.core_node.min_size
    error_message = "core_node needs min_size >= 1 and max_size >= min_size."
  }
}

variable "user_node_groups" {
  type = map(object({
    instance_type = string
    min_size      = optional(number, 0)
    max_size      = optional(number, 20)
  }))
  description = "Node groups for user servers, by name (e.g. r5-xlarge); they scale from 0."
  default = {
    "r5-xlarge" = { instance_type = "r5.xlarge" }
  }
  validation {
    condition     = alltrue([for k, g in var.user_node_groups : can(regex("^[a-z0-9-]{1,20}$", k)) && g.min_size >= 0 && g.max_size >= max(g.min_size, 1)])
    error_message = "user_node_groups: names are 1-20 of [a-z0-9-]; min_size >= 0 and max_size >= max(min_size, 1)."
  }
}

variable "dask_node_groups" {
  type = map(object({
    instance_type = string
    min_size      = optional(number, 0)
    max_size      = optional(number, 50)
  }))
  description = "Node groups for dask workers, by name; they scale from 0. Empty: no dask nodes."
  default     = {}
  validation {
    condition     = alltrue([for k, g in var.dask_node_groups : can(regex("^[a-z0-9-]{1,20}$", k)) && g.min_size >= 0 && g.max_size >= max(g.min_size, 1)])
    error_message = "dask_node_groups: names are 1-20 of [a-z0-9-]; min_size >= 0 and max_size >= max(min_size, 1)."
  }
}

# --- hubs, storage, identities ---------------------------------------------------------------

variable "hub_namespaces" {
  type        = list(string)
  description = "Hubs (namespaces) that get an IRSA role for their users' service account."
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

variable "cluster_autoscaler_service_account" {
  type = object({
    namespace = string
    name      = string
  })
  description = "The Kubernetes service account the cluster autoscaler runs as (the support chart's: namespace `support`, name `cluster-autoscaler`); its IAM role trusts this one only."
  default     = { namespace = "support", name = "cluster-autoscaler" }
}

variable "enable_cost_monitoring" {
  type        = bool
  description = "Make the IAM role (read-only Cost Explorer) for the support chart's jupyterhub-cost-monitoring; deployer's support stack then switches it on with that role."
  default     = false
}

variable "user_buckets" {
  type = map(object({
    delete_after_days = optional(number)
    hubs              = optional(list(string), [])
  }))
  description = "S3 buckets for users (scratch, shared data), by short name; `hubs` get read/write through their IRSA role."
  default     = {}
  validation {
    condition     = alltrue([for k, b in var.user_buckets : can(regex("^[a-z0-9-]{1,20}$", k)) && (b.delete_after_days == null ? true : b.delete_after_days >= 1)])
    error_message = "user_buckets: names are 1-20 of [a-z0-9-]; delete_after_days must be >= 1 when set."
  }
}

variable "enable_efs" {
  type        = bool
  description = "Create an EFS file system (with a mount target in each zone) for home directories."
  default     = false
}

variable "enable_access_entries" {
  type        = bool
  description = "Grant the deployer identity cluster-admin through EKS access entries (turn off only for an emulator lacking that API)."
  default     = true
}

variable "tags" {
  type        = map(string)
  description = "Tags added to every resource (beside deployer/cluster and managed-by)."
  default     = {}
}

# --- emulators -------------------------------------------------------------------------------

variable "endpoint_url" {
  type        = string
  description = "One endpoint for every AWS API, for an AWS-compatible emulator (moto, LocalStack) in tests; null for AWS itself."
  default     = null
  nullable    = true
  validation {
    condition     = var.endpoint_url == null ? true : can(regex("^https?://", var.endpoint_url))
    error_message = "endpoint_url must be an http(s) URL, or null."
  }
}
