# What is always true in the cluster: the debugging role exists, the payments on-call group can
# read its namespace, and nobody holds cluster-admin unless an activation says so.

# What an on-call engineer needs to debug a namespace: read everything, read logs, exec into
# pods. Granted only in an emergency (access.hcl), only in the namespace of the incident.
resource "kubernetes_cluster_role" "debug" {
  name = "breakglass-debug"
  rules = [
    {
      api_groups = ["", "apps", "batch"]
      resources  = ["pods", "pods/log", "deployments", "replicasets", "jobs", "events", "services"]
      verbs      = ["get", "list", "watch"]
    },
    {
      api_groups = [""]
      resources  = ["pods/exec", "pods/portforward"]
      verbs      = ["create"]
    },
  ]
}

# Read-only access to the payments namespace for its on-call group, always.
resource "kubernetes_role" "payments_reader" {
  name      = "payments-reader"
  namespace = "payments"
  rules = [
    {
      api_groups = ["", "apps"]
      resources  = ["pods", "pods/log", "deployments", "events"]
      verbs      = ["get", "list", "watch"]
    },
  ]
}

resource "kubernetes_role_binding" "payments_readers" {
  name      = "payments-readers"
  namespace = "payments"
  role_kind = "Role"
  role      = kubernetes_role.payments_reader.name
  subjects = [
    { kind = "Group", name = "payments-oncall" },
  ]
  depends_on = [kubernetes_role.payments_reader]
}

# The SRE group can see (not change) everything, always. Declaring a ClusterRoleBinding here
# also makes plan read every ClusterRoleBinding of the cluster, so a binding to cluster-admin
# that nobody declared or granted shows up as drift.
resource "kubernetes_cluster_role_binding" "sre_view" {
  name = "sre-view"
  role = "view"
  subjects = [
    { kind = "Group", name = "sre" },
  ]
}
