# IAM roles for service accounts: each hub's users get a role through the cluster's OIDC issuer.

locals {
  oidc_issuer = aws_eks_cluster.main.identity[0].oidc[0].issuer
  oidc_host   = replace(local.oidc_issuer, "https://", "")
}

resource "aws_iam_openid_connect_provider" "cluster" {
  url            = local.oidc_issuer
  client_id_list = ["sts.amazonaws.com"]
}

# Who may assume each IRSA role: one Kubernetes service account, through the cluster's OIDC provider.
# Every hub's users (hub/<namespace>), the cluster autoscaler and cost monitoring (see below).
locals {
  irsa_subjects = merge(
    { for hub in var.hub_namespaces : "hub/${hub}" => "system:serviceaccount:${hub}:${var.user_service_account}" },
    { "cluster-autoscaler" = "system:serviceaccount:${var.cluster_autoscaler_service_account.namespace}:${var.cluster_autoscaler_service_account.name}" },
    var.enable_cost_monitoring ? { "cost-monitoring" = "system:serviceaccount:support:jupyterhub-cost-monitoring" } : {},
  )
}

data "aws_iam_policy_document" "irsa_assume" {
  for_each = local.irsa_subjects

  statement {
    actions = ["sts:AssumeRoleWithWebIdentity"]
    principals {
      type        = "Federated"
      identifiers = [aws_iam_openid_connect_provider.cluster.arn]
    }
    condition {
      test     = "StringEquals"
      variable = "${local.oidc_host}:sub"
      values   = [each.value]
    }
    condition {
      test     = "StringEquals"
      variable = "${local.oidc_host}:aud"
      values   = ["sts.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "hub" {
  for_each = toset(var.hub_namespaces)

  name               = "${var.cluster_name}-${each.value}"
  assume_role_policy = data.aws_iam_policy_document.irsa_assume["hub/${each.value}"].json
}

# The cluster autoscaler (deployed by the support chart as ServiceAccount
# `cluster-autoscaler` in namespace `support`) scales the user and dask node groups from
# zero: it reads the groups and, for groups it owns (the node group tags in eks.tf), sets
# their size. Its own role, through the same OIDC provider, rather than rights on every node.

data "aws_iam_policy_document" "cluster_autoscaler" {
  statement {
    sid = "Discover"
    actions = [
      "autoscaling:DescribeAutoScalingGroups",
      "autoscaling:DescribeAutoScalingInstances",
      "autoscaling:DescribeLaunchConfigurations",
      "autoscaling:DescribeScalingActivities",
      "autoscaling:DescribeTags",
      "ec2:DescribeImages",
      "ec2:DescribeInstanceTypes",
      "ec2:DescribeLaunchTemplateVersions",
      "ec2:GetInstanceTypesFromInstanceRequirements",
      # a managed node group's labels and taints, to scale it up from zero nodes
      "eks:DescribeNodegroup",
    ]
    resources = ["*"]
  }
  statement {
    sid = "ScaleOwnGroups"
    actions = [
      "autoscaling:SetDesiredCapacity",
      "autoscaling:TerminateInstanceInAutoScalingGroup",
    ]
    resources = ["*"]
    condition {
      test     = "StringEquals"
      variable = "aws:ResourceTag/k8s.io/cluster-autoscaler/${var.cluster_name}"
      values   = ["owned"]
    }
  }
}

resource "aws_iam_role" "cluster_autoscaler" {
  name               = "${var.cluster_name}-cluster-autoscaler"
  assume_role_policy = data.aws_iam_policy_document.irsa_assume["cluster-autoscaler"].json
}

resource "aws_iam_role_policy" "cluster_autoscaler" {
  name   = "cluster-autoscaler"
  role   = aws_iam_role.cluster_autoscaler.id
  policy = data.aws_iam_policy_document.cluster_autoscaler.json
}

# Cost monitoring (the support chart's jupyterhub-cost-monitoring, ServiceAccount
# `jupyterhub-cost-monitoring` in `support`) reads the account's costs from Cost Explorer.

resource "aws_iam_role" "cost_monitoring" {
  count = var.enable_cost_monitoring ? 1 : 0

  name               = "${var.cluster_name}-cost-monitoring"
  assume_role_policy = data.aws_iam_policy_document.irsa_assume["cost-monitoring"].json
}

resource "aws_iam_role_policy" "cost_monitoring" {
  count = var.enable_cost_monitoring ? 1 : 0

  name = "cost-explorer-read"
  role = aws_iam_role.cost_monitoring[0].id
  policy = jsonencode({
    Version   = "2012-10-17"
    Statement = [{ Effect = "Allow", Action = ["ce:Get*", "ce:List*"], Resource = "*" }]
  })
}
