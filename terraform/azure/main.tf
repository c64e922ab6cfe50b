locals {
  tags = merge(var.tags, { "deployer-cluster" = var.cluster_name, "managed-by" = "deployer" })
}

resource "azurerm_resource_group" "main" {
  name     = var.resource_group_name
  location = var.location
  tags     = local.tags
}

resource "azurerm_virtual_network" "main" {
  name                = "${var.cluster_name}-vnet"
  location            = azurerm_resource_group.main.location
  resource_group_name = azurerm_resource_group.main.name
  address_space       = ["10.0.0.0/8"]
  tags                = local.tags
}

resource "azurerm_subnet" "nodes" {
  name                 = "${var.cluster_name}-nodes"
  resource_group_name  = azurerm_resource_group.main.name
  virtual_network_name = azurerm_virtual_network.main.name
  address_prefixes     = ["10.1.0.0/16"]
  service_endpoints    = ["Microsoft.Storage"]
}

resource "azurerm_kubernetes_cluster" "main" {
  name                = var.cluster_name
  location            = azurerm_resource_group.main.location
  resource_group_name = azurerm_resource_group.main.name
  dns_prefix          = var.cluster_name
  kubernetes_version  = var.kubernetes_version
  tags                = local.tags

  oidc_issuer_enabled       = true
  workload_identity_enabled = true

  default_node_pool {
    name                 = "core"
    vm_size              = var.core_node.vm_size
    vnet_subnet_id       = azurerm_subnet.nodes.id
    auto_scaling_enabled = true
    min_count            = var.core_node.min_count
    max_count            = var.core_node.max_count
    node_labels = {
      "hub.jupyter.org/node-purpose" = "core"
      "k8s.dask.org/node-purpose"    = "core"
    }

    upgrade_settings {
      max_surge = "10%"
    }
  }

  identity {
    type = "SystemAssigned"
  }

  network_profile {
    network_plugin = "azure"
    network_policy = "calico"
  }

  lifecycle {
    # the autoscaler owns the current size
    ignore_changes = [default_node_pool[0].node_count]
  }
}

locals {
  pools = merge(
    {
      for name, p in var.user_node_pools : "u${name}" => {
        vm_size   = p.vm_size
        min_count = p.min_count
        max_count = p.max_count
        labels    = { "hub.jupyter.org/node-purpose" = "user", "k8s.dask.org/node-purpose" = "scheduler" }
        taints    = ["hub.jupyter.org_dedicated=user:NoSchedule"]
      }
    },
    {
      for name, p in var.dask_node_pools : "d${name}" => {
        vm_size   = p.vm_size
        min_count = p.min_count
        max_count = p.max_count
        labels    = { "k8s.dask.org/node-purpose" = "worker" }
        taints    = ["k8s.dask.org_dedicated=worker:NoSchedule"]
      }
    },
  )
}

resource "azurerm_kubernetes_cluster_node_pool" "main" {
  for_each = local.pools

  name                  = substr(each.key, 0, 12)
  kubernetes_cluster_id = azurerm_kubernetes_cluster.main.id
  vm_size               = each.value.vm_size
  vnet_subnet_id        = azurerm_subnet.nodes.id
  auto_scaling_enabled  = true
  min_count             = each.value.min_count
  max_count             = each.value.max_count
  node_count            = each.value.min_count
  node_labels           = each.value.labels
  node_taints           = each.value.taints
  tags                  = local.tags

  lifecycle {
    ignore_changes = [node_count]
  }
}

# --- home directories on Azure Files (NFS) -------------------------------------------------------

resource "azurerm_storage_account" "homes" {
  count = var.home_share_quota_gb > 0 ? 1 : 0

  # 3-24 lowercase letters and digits, unique in Azure
  name                     = substr(replace("${var.cluster_name}homes", "-", ""), 0, 24)
  resource_group_name      = azurerm_resource_group.main.name
  location                 = azurerm_resource_group.main.location
  account_tier             = "Premium"
  account_kind             = "FileStorage"
  account_replication_type = "LRS"
  tags                     = local.tags

  https_traffic_only_enabled = false # NFS does not speak TLS

  network_rules {
    default_action             = "Deny"
    virtual_network_subnet_ids = [azurerm_subnet.nodes.id]
  }
}

resource "azurerm_storage_share" "homes" {
  count = var.home_share_quota_gb > 0 ? 1 : 0

  name               = "homes"
  storage_account_id = azurerm_storage_account.homes[0].id
  quota              = var.home_share_quota_gb
  enabled_protocol   = "NFS"
}

# --- the deployer's own identity -----------------------------------------------------------------
# A service principal made by the operator (`az ad sp create-for-rbac --skip-assignment`, its
# JSON encrypted with sops as cluster.yaml `azure.key`) gets what it needs on this cluster only.

resource "azurerm_role_assignment" "deployer_cluster_user" {
  count = var.deployer_principal_object_id == null ? 0 : 1

  scope                = azurerm_kubernetes_cluster.main.id
  role_definition_name = "Azure Kubernetes Service Cluster User Role"
  principal_id         = var.deployer_principal_object_id
}

resource "azurerm_role_assignment" "deployer_rbac_admin" {
  count = var.deployer_principal_object_id == null ? 0 : 1

  scope                = azurerm_kubernetes_cluster.main.id
  role_definition_name = "Azure Kubernetes Service RBAC Cluster Admin"
  principal_id         = var.deployer_principal_object_id
}
