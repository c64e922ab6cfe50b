# The identity `deployer` uses for this cluster: it may describe this one cluster (to write a
# kubeconfig with `aws eks update-kubeconfig`) and is cluster-admin inside Kubernetes, nothing else.

resource "aws_iam_user" "deployer" {
  name = "${var.cluster_name}-deployer"
}

data "aws_iam_policy_document" "deployer" {
  statement {
    actions   = ["eks:DescribeCluster"]
    resources = [aws_eks_cluster.main.arn]
  }
}

resource "aws_iam_user_policy" "deployer" {
  name   = "describe-cluster"
  user   = aws_iam_user.deployer.name
  policy = data.aws_iam_policy_document.deployer.json
}

# No access key is made here: a key in Terraform's state would sit in every saved plan too.
# Make it once with `aws iam create-access-key --user-name <cluster>-deployer`, and keep it
# encrypted with sops in the cluster folder (cluster.yaml `aws.key`).

resource "aws_eks_access_entry" "deployer" {
  count = var.enable_access_entries ? 1 : 0

  cluster_name  = aws_eks_cluster.main.name
  principal_arn = aws_iam_user.deployer.arn
}

resource "aws_eks_access_policy_association" "deployer" {
  count = var.enable_access_entries ? 1 : 0

  cluster_name  = aws_eks_cluster.main.name
  principal_arn = aws_iam_user.deployer.arn
  policy_arn    = "arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy"

  access_scope {
    type = "cluster"
  }

  depends_on = [aws_eks_access_entry.deployer]
}
