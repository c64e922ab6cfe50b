output "cluster_name" {
  description = "EKS cluster name."
  value       = aws_eks_cluster.main.name
}

output "region" {
  description = "AWS region of the cluster."
  value       = var.region
}

output "cluster_endpoint" {
  description = "URL of the Kubernetes API."
  value       = aws_eks_cluster.main.endpoint
}

output "cluster_ca_certificate" {
  description = "Base64-encoded CA certificate of the Kubernetes API."
  value       = aws_eks_cluster.main.certificate_authority[0].data
}

output "cluster_arn" {
  description = "ARN of the EKS cluster."
  value       = aws_eks_cluster.main.arn
}

output "oidc_issuer_url" {
  description = "OIDC issuer of the cluster (for IAM roles for service accounts)."
  value       = local.oidc_issuer
}

output "node_role_arn" {
  description = "IAM role of every node group."
  value       = aws_iam_role.node.arn
}

output "node_groups" {
  description = "Node group names."
  value       = sort(keys(aws_eks_node_group.main))
}

output "hub_role_arns" {
  description = "IRSA role ARN for each hub's user service account, by hub name."
  value       = { for hub, role in aws_iam_role.hub : hub => role.arn }
}

output "user_service_account" {
  description = "Service account name that the hub role trusts in each hub namespace."
  value       = var.user_service_account
}

output "user_buckets" {
  description = "S3 bucket name for each user bucket, by short name."
  value       = { for k, b in aws_s3_bucket.user : k => b.bucket }
}

output "efs_file_system_id" {
  description = "EFS file system for home directories, or null."
  value       = var.enable_efs ? aws_efs_file_system.homes[0].id : null
}

output "deployer_user_arn" {
  description = "ARN of the IAM user that deployer uses for this cluster."
  value       = aws_iam_user.deployer.arn
}

output "deployer_user_name" {
  description = "IAM user that deployer uses for this cluster (make its access key with `aws iam create-access-key`)."
  value       = aws_iam_user.deployer.name
}

output "cluster_autoscaler_role_arn" {
  description = "IAM role of the cluster autoscaler (IRSA); deployer's support stack annotates its service account with it and switches the autoscaler on."
  value       = aws_iam_role.cluster_autoscaler.arn
}

output "cluster_autoscaler_service_account" {
  description = "Namespace and name of the service account the cluster autoscaler's role trusts."
  value       = var.cluster_autoscaler_service_account
}

output "cost_monitoring_role_arn" {
  description = "IAM role of the support chart's cost monitoring (IRSA), or null without enable_cost_monitoring."
  value       = var.enable_cost_monitoring ? aws_iam_role.cost_monitoring[0].arn : null
}
