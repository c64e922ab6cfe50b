data "aws_iam_policy_document" "eks_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["eks.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "cluster" {
  name               = "${var.cluster_name}-eks-cluster"
  assume_role_policy = data.aws_iam_policy_document.eks_assume.json
}

resource "aws_iam_role_policy_attachment" "cluster" {
  role       = aws_iam_role.cluster.name
  policy_arn = "arn:aws:iam::aws:policy/AmazonEKSClusterPolicy"
}

resource "aws_eks_cluster" "main" {
  name     = var.cluster_name
  version  = var.kubernetes_version
  role_arn = aws_iam_role.cluster.arn

  vpc_config {
    subnet_ids              = aws_subnet.public[*].id
    endpoint_public_access  = true
    endpoint_private_access = true
    public_access_cidrs     = var.api_public_access_cidrs
  }

  depends_on = [aws_iam_role_policy_attachment.cluster]
}

# --- nodes -----------------------------------------------------------------------------------

data "aws_iam_policy_document" "ec2_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["ec2.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "node" {
  name               = "${var.cluster_name}-eks-node"
  assume_role_policy = data.aws_iam_policy_document.ec2_assume.json
}

resource "aws_iam_role_policy_attachment" "node" {
  for_each = toset([
    "arn:aws:iam::aws:policy/AmazonEKSWorkerNodePolicy",
    "arn:aws:iam::aws:policy/AmazonEKS_CNI_Policy",
    "arn:aws:iam::aws:policy/AmazonEC2ContainerRegistryReadOnly",
  ])

  role       = aws_iam_role.node.name
  policy_arn = each.value
}

locals {
  # Every node group, keyed by its EKS name, with the labels and taints that JupyterHub
  # and dask-gateway schedule by.
  node_groups = merge(
    {
      core = {
        instance_type = var.core_node.instance_type
        min_size      = var.core_node.min_size
        max_size      = var.core_node.max_size
        labels        = { "hub.jupyter.org/node-purpose" = "core", "k8s.dask.org/node-purpose" = "core" }
        taints        = []
      }
    },
    {
      for name, g in var.user_node_groups : "user-${name}" => {
        instance_type = g.instance_type
        min_size      = g.min_size
        max_size      = g.max_size
        labels        = { "hub.jupyter.org/node-purpose" = "user", "k8s.dask.org/node-purpose" = "scheduler" }
        taints        = [{ key = "hub.jupyter.org_dedicated", value = "user" }]
      }
    },
    {
      for name, g in var.dask_node_groups : "dask-${name}" => {
        instance_type = g.instance_type
        min_size      = g.min_size
        max_size      = g.max_size
        labels        = { "k8s.dask.org/node-purpose" = "worker" }
        taints        = [{ key = "k8s.dask.org_dedicated", value = "worker" }]
      }
    },
  )
}

resource "aws_eks_node_group" "main" {
  for_each = local.node_groups

  cluster_name    = aws_eks_cluster.main.name
  node_group_name = each.key
  node_role_arn   = aws_iam_role.node.arn
  subnet_ids      = aws_subnet.public[*].id
  instance_types  = [each.value.instance_type]
  labels          = each.value.labels

  scaling_config {
    min_size     = each.value.min_size
    max_size     = each.value.max_size
    desired_size = each.value.min_size
  }

  dynamic "taint" {
    for_each = each.value.taints
    content {
      key    = taint.value.key
      value  = taint.value.value
      effect = "NO_SCHEDULE"
    }
  }

  tags = {
    # the cluster autoscaler reads these to scale a group from zero
    "k8s.io/cluster-autoscaler/enabled"             = "true"
    "k8s.io/cluster-autoscaler/${var.cluster_name}" = "owned"
  }

  lifecycle {
    # the cluster autoscaler owns the current size
    ignore_changes = [scaling_config[0].desired_size]
  }

  depends_on = [aws_iam_role_policy_attachment.node]
}
