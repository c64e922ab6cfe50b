# IAM roles for service accounts: each hub's users get a role through the cluster's OIDC issuer.

locals {
  oidc_issuer = aws_eks_cluster.main.identity[0].oidc[0].issuer
  oidc_host   = replace(local.oidc_issuer, "https://", "")
}

resource "aws_iam_openid_connect_provider" "cluster" {
  url            = local.oidc_issuer
  client_id_list = ["sts.amazonaws.com"]
}

data "aws_iam_policy_document" "hub_assume" {
  for_each = toset(var.hub_namespaces)

  statement {
    actions = ["sts:AssumeRoleWithWebIdentity"]
    principals {
      type        = "Federated"
      identifiers = [aws_iam_openid_connect_provider.cluster.arn]
    }
    condition {
      test     = "StringEquals"
      variable = "${local.oidc_host}:sub"
      values   = ["system:serviceaccount:${each.value}:${var.user_service_account}"]
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
  assume_role_policy = data.aws_iam_policy_document.hub_assume[each.value].json
}
