locals {
  # a zone has three dash-separated parts (us-central1-b), a region two (us-central1)
  regional = length(split("-", var.location)) == 2
  region   = local.regional ? var.location : join("-", slice(split("-", var.location), 0, 2))
  zone     = local.regional ? "${var.location}-b" : var.location
  labels   = merge(var.labels, { "deployer-cluster" = var.cluster_name, "managed-by" = "deployer" })

  node_pools = merge(
    {
      core = {
        machine_type = var.core_node.machine_type
        min_count    = var.core_node.min_count
        max_count    = var.core_node.max_count
        preemptible  = false
        labels       = { "hub.jupyter.org/node-purpose" = "core", "k8s.dask.org/node-purpose" = "core" }
        taints       = []
      }
    },
    {
      for name, p in var.user_node_pools : "user-${name}" => {
        machine_type = p.machine_type
        min_count    = p.min_count
        max_count    = p.max_count
        preemptible  = p.preemptible
        labels       = { "hub.jupyter.org/node-purpose" = "user", "k8s.dask.org/node-purpose" = "scheduler" }
        taints       = [{ key = "hub.jupyter.org_dedicated", value = "user" }]
      }
    },
    {
      for name, p in var.dask_node_pools : "dask-${name}" => {
        machine_type = p.machine_type
        min_count    = p.min_count
        max_count    = p.max_count
        preemptible  = p.preemptible
        labels       = { "k8s.dask.org/node-purpose" = "worker" }
        taints       = [{ key = "k8s.dask.org_dedicated", value = "worker" }]
      }
    },
  )
}

resource "google_project_service" "apis" {
  for_each = toset(["container.googleapis.com", "file.googleapis.com", "storage.googleapis.com", "iam.googleapis.com"])

  service            = each.value
  disable_on_destroy = false
}

# --- the cluster and its node pools ----------------------------------------------------------

resource "google_service_account" "nodes" {
  account_id   = "${var.cluster_name}-nodes"
  display_name = "Nodes of GKE cluster ${var.cluster_name}"
}

resource "google_project_iam_member" "nodes" {
  for_each = toset([
    "roles/logging.logWriter",
    "roles/monitoring.metricWriter",
    "roles/monitoring.viewer",
    "roles/artifactregistry.reader",
  ])

  project = var.project_id
  role    = each.value
  member  = "serviceAccount:${google_service_account.nodes.email}"
}

resource "google_container_cluster" "main" {
  name     = var.cluster_name
  location = var.location

  # node pools are managed below; GKE insists on creating a default one first
  remove_default_node_pool = true
  initial_node_count       = 1
  deletion_protection      = var.deletion_protection
  resource_labels          = local.labels

  release_channel {
    channel = var.release_channel
  }

  workload_identity_config {
    workload_pool = "${var.project_id}.svc.id.goog"
  }

  networking_mode = "VPC_NATIVE"
  ip_allocation_policy {}

  addons_config {
    gcp_filestore_csi_driver_config {
      enabled = var.filestore.enabled
    }
  }

  depends_on = [google_project_service.apis]
}

resource "google_container_node_pool" "main" {
  for_each = local.node_pools

  name     = each.key
  cluster  = google_container_cluster.main.name
  location = var.location

  initial_node_count = each.value.min_count

  autoscaling {
    min_node_count = each.value.min_count
    max_node_count = each.value.max_count
  }

  management {
    auto_repair  = true
    auto_upgrade = true
  }

  node_config {
    machine_type    = each.value.machine_type
    preemptible     = each.value.preemptible
    service_account = google_service_account.nodes.email
    oauth_scopes    = ["https://www.googleapis.com/auth/cloud-platform"]
    labels          = each.value.labels
    resource_labels = local.labels

    workload_metadata_config {
      mode = "GKE_METADATA"
    }

    dynamic "taint" {
      for_each = each.value.taints
      content {
        key    = taint.value.key
        value  = taint.value.value
        effect = "NO_SCHEDULE"
      }
    }
  }

  lifecycle {
    # the autoscaler owns the current size
    ignore_changes = [initial_node_count]
  }
}
