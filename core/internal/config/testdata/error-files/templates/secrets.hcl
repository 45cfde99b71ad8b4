variable "token" {
  default   = "hunter2-token"
  sensitive = true
}

defaults {
  source "test" {
    password = ["hunter2"] # ERROR: Inappropriate value for attribute "password": a string is required
    mode     = var.token # ERROR: The value is not one of the allowed values of "mode"
    port     = upper(var.token) # ERROR: Inappropriate value for attribute "port"
  }
  sink "test" {
    password = "hunter2"
    prot     = "hunter2" # ERROR: Did you mean "port"?
  }
}
