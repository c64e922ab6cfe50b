output "cluster_name" {
  description = "GKE cluster name."
  value       = google_container_cluster.main.name
}

output "project_id" {
  description = "GCP project ID holding the cluster."
  value       = var.project_id
}

output "location" {
  description = "Zone or region of the cluster."
  value       = var.location
}

output "regional" {
  description = "True for a regional cluster, false for a zonal one."
  value       = local.regional
}

output "cluster_endpoint" {
  description = "Address of the Kubernetes API."
  value       = "https://${google_container_cluster.main.endpoint}"
}

output "cluster_ca_certificate" {
  description = "Base64-encoded CA certificate of the Kubernetes API."
  value       = google_container_cluster.main.master_auth[0].cluster_ca_certificate
}

output "node_pools" {
  description = "Node pool names."
  value       = sort(keys(google_container_node_pool.main))
}

output "hub_service_accounts" {
  description = "Google service account email for each hub's users (annotate the Kubernetes service account with it), by hub name."
  value       = { for hub, sa in google_service_account.hub : hub => sa.email }
}

output "user_service_account" {
  description = "Kubernetes service account name bound to the hub's Google service account."
  value       = var.user_service_account
}

output "user_buckets" {
  description = "Cloud Storage bucket name for each user bucket, by short name."
  value       = { for k, b in google_storage_bucket.user : k => b.name }
}

output "filestore_ip" {
  description = "NFS address of the Filestore instance for home directories, or null."
  value       = var.filestore.enabled ? google_filestore_instance.homes[0].networks[0].ip_addresses[0] : null
}

output "filestore_share" {
  description = "Share name on the Filestore instance, or null."
  value       = var.filestore.enabled ? "homes" : null
}

output "deployer_service_account_email" {
  description = "Service account deployer uses for this cluster (make its key with `gcloud iam service-accounts keys create`)."
  value       = google_service_account.deployer.email
}
