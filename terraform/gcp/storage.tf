resource "google_storage_bucket" "user" {
  for_each = var.user_buckets

  name                        = "${var.project_id}-${var.cluster_name}-${each.key}"
  location                    = upper(local.region)
  uniform_bucket_level_access = true
  labels                      = local.labels

  dynamic "lifecycle_rule" {
    for_each = each.value.delete_after_days == null ? [] : [each.value.delete_after_days]
    content {
      condition {
        age = lifecycle_rule.value
      }
      action {
        type = "Delete"
      }
    }
  }
}

locals {
  hub_buckets = merge([
    for bucket, b in var.user_buckets : {
      for hub in b.hubs : "${hub}/${bucket}" => { hub = hub, bucket = bucket }
    }
  ]...)
}

resource "google_storage_bucket_iam_member" "hub" {
  for_each = local.hub_buckets

  bucket = google_storage_bucket.user[each.value.bucket].name
  role   = "roles/storage.objectAdmin"
  member = "serviceAccount:${google_service_account.hub[each.value.hub].email}"

  lifecycle {
    precondition {
      condition     = contains(var.hub_namespaces, each.value.hub)
      error_message = "user_buckets.${each.value.bucket}.hubs names hub ${each.value.hub}, which is not in hub_namespaces."
    }
  }
}

resource "google_filestore_instance" "homes" {
  count = var.filestore.enabled ? 1 : 0

  name     = "${var.cluster_name}-homes"
  location = contains(["BASIC_HDD", "BASIC_SSD", "ZONAL"], var.filestore.tier) ? local.zone : local.region
  tier     = var.filestore.tier
  labels   = local.labels

  file_shares {
    name        = "homes"
    capacity_gb = var.filestore.capacity_gb
  }

  networks {
    network = "default"
    modes   = ["MODE_IPV4"]
  }

  depends_on = [google_project_service.apis]
}
