# What is always true: the baseline every plan restores.

resource "local_access" "oncall_viewer" {
  principal = "team:oncall"
  role      = "viewer"
}

resource "local_setting" "chatbot_endpoint" {
  key   = "chatbot.model_endpoint.enabled"
  value = "on"
}
