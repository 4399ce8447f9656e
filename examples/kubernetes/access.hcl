# Emergency cluster access: what can be granted, to whom, approved by whom, for how long.
#
# Kubernetes cannot expire a binding by itself: access ends when breakglass deletes the binding
# (`breakglass watch`, or `breakglass reconcile` from cron), and only the binding the activation
# created — it carries the label breakglass.dev/activation=<activation id>.

role "cluster_admin" {
  description  = "Break-glass cluster-admin: the requester's own user is bound to cluster-admin until the activation ends."
  risk         = "high"
  requesters   = [team.oncall]
  approvers    = approvers.leads
  max_duration = "1h"

  resource "kubernetes_cluster_role_binding" "admin" {
    name = "breakglass-${requester.name}-cluster-admin"
    role = "cluster-admin"
    subjects = [
      { kind = "User", name = requester.identities.kubernetes },
    ]
  }
}

role "payments_debug" {
  description  = "Debug the payments namespace: the requester gets breakglass-debug there."
  risk         = "medium"
  requesters   = [team.oncall]
  approvers    = approvers.leads
  max_duration = "4h"

  resource "kubernetes_role_binding" "debug" {
    name      = "breakglass-${requester.name}-debug"
    namespace = "payments"
    role      = kubernetes_cluster_role.debug.name
    subjects = [
      { kind = "User", name = requester.identities.kubernetes },
    ]
    depends_on = [kubernetes_cluster_role.debug]
  }
}
