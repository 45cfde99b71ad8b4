variable "db_password" {
  default   = "hunter2-from-default"
  sensitive = true
}

pipeline "p" {
  description = [upper(var.db_password)] # ERROR: Inappropriate value for attribute "description": a string is required
  source "test" {
    name     = "src"
    password = { value = "hunter2" } # ERROR: Inappropriate value for attribute "password": a string is required.
    mode     = var.db_password # ERROR: The value is not one of the allowed values of "mode"
  }
  serializer "canal" {}
  sink "test" {
    name     = "snk"
    password = "reject-me-hunter2" # ERROR: Password *** is too weak
  }
  filter "test" {
    name     = "f"
    password = "hunter2"
    prot     = 1 # ERROR: Did you mean "port"?
  }
}
