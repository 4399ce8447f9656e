# Kubernetes: break-glass cluster-admin for the on-call team, a namespaced debugging role for
# the payments incident, and read-only access for the payments on-call group, always on.
#
# The provider connects as kubectl would: KUBECONFIG (or ~/.kube/config), its current-context,
# and the credentials of that context (a token, a client certificate or an exec plugin such as
# `aws eks get-token`). Nothing secret is written here. Keys under keys/ are DEMO ONLY (see
# keys/README.md).

breakglass {
  max_duration = "12h"
  plan_signers = [person.ci]
}

provider "kubernetes" {
  # context = "prod-eu"   # default: the kubeconfig's current-context

  # A binding to cluster-admin that nothing here declares or grants is drift that widens
  # access: plan reports it, and apply deletes it, because drift = "revert". Kubernetes' own
  # default bindings (label kubernetes.io/bootstrapping=rbac-defaults) are never drift.
  privileged_cluster_roles = ["cluster-admin"]
  drift                    = "revert"
}
