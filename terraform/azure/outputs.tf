output "cluster_name" {
  description = "AKS cluster name."
  value       = azurerm_kubernetes_cluster.main.name
}

output "resource_group_name" {
  description = "Resource group holding the cluster."
  value       = azurerm_resource_group.main.name
}

output "location" {
  description = "Azure region of the cluster."
  value       = azurerm_resource_group.main.location
}

output "cluster_endpoint" {
  description = "Address of the Kubernetes API."
  value       = "https://${azurerm_kubernetes_cluster.main.fqdn}"
}

output "cluster_ca_certificate" {
  description = "Base64-encoded CA certificate of the Kubernetes API."
  value       = azurerm_kubernetes_cluster.main.kube_config[0].cluster_ca_certificate
  sensitive   = true
}

output "oidc_issuer_url" {
  description = "OIDC issuer of the cluster (for workload identity)."
  value       = azurerm_kubernetes_cluster.main.oidc_issuer_url
}

output "kubelet_identity_object_id" {
  description = "Object ID of the nodes' kubelet identity."
  value       = azurerm_kubernetes_cluster.main.kubelet_identity[0].object_id
}

output "node_pools" {
  description = "Node pool names (beside the core system pool)."
  value       = sort([for p in azurerm_kubernetes_cluster_node_pool.main : p.name])
}

output "home_share" {
  description = "NFS server and path of the home directory share, or null."
  value = var.home_share_quota_gb > 0 ? {
    server = "${azurerm_storage_account.homes[0].name}.file.core.windows.net"
    path   = "/${azurerm_storage_account.homes[0].name}/homes"
  } : null
}
