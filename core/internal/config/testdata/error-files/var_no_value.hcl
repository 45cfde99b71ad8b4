variable "pw" { # ERROR: No value for variable "pw"
  sensitive = true
}

variable "pw" { # ERROR: Duplicate variable block
  default = "x"
}

variable "v" { # ERROR: No value for variable "v"
  defualt = "x" # ERROR: Did you mean "default"?
}

variable "w" { # ERROR: No value for variable "w"
  default   = var.v # ERROR: Variables not allowed
  sensitive = "maybe" # ERROR: Inappropriate value for attribute "sensitive"
}

pipeline "p" {
  source "test" {
    name     = "src"
    password = var.pw
  }
  serializer "canal" {}
  sink "test" { name = "snk" }
}
