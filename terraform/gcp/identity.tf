# --- workload identity: a Google service account for each hub's users --------------------------

resource "google_service_account" "hub" {
  for_each = toset(var.hub_namespaces)

  # account ids are at most 30 characters
  account_id   = substr("${var.cluster_name}-${each.value}", 0, 30)
  display_name = "Users of hub ${each.value} on ${var.cluster_name}"
}

resource "google_service_account_iam_member" "hub_workload_identity" {
  for_each = toset(var.hub_namespaces)

  service_account_id = google_service_account.hub[each.value].name
  role               = "roles/iam.workloadIdentityUser"
  member             = "serviceAccount:${var.project_id}.svc.id.goog[${each.value}/${var.user_service_account}]"

  depends_on = [google_container_cluster.main]
}

# --- the deployer's own identity ---------------------------------------------------------------
# It may fetch this cluster's credentials and act inside it, nothing else. No key is made here
# (a key in Terraform's state would sit in every saved plan too): make one with
# `gcloud iam service-accounts keys create` and keep it encrypted with sops (cluster.yaml `gcp.key`).

resource "google_project_iam_custom_role" "deployer" {
  role_id     = replace("${var.cluster_name}_deployer", "-", "_")
  title       = "deployer for ${var.cluster_name}"
  description = "Get credentials for the GKE clusters of this project and manage their Kubernetes objects."
  permissions = [
    "container.clusters.get",
    "container.clusters.getCredentials",
  ]
}

resource "google_service_account" "deployer" {
  account_id   = substr("${var.cluster_name}-deployer", 0, 30)
  display_name = "deployer for GKE cluster ${var.cluster_name}"
}

resource "google_project_iam_member" "deployer" {
  for_each = toset([
    google_project_iam_custom_role.deployer.name,
    # Kubernetes RBAC inside GKE clusters of this project (helm installs CRDs and ClusterRoles)
    "roles/container.developer",
  ])

  project = var.project_id
  role    = each.value
  member  = "serviceAccount:${google_service_account.deployer.email}"
}
