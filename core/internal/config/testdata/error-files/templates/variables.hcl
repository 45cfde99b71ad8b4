variable "region" {
  default = "eu"
}

variable "team" {
  default = upper("a")
}

variable "needs_value" { # ERROR: Variable "needs_value" has no default
}

variable "from_file" { # ERROR: No value for variable "from_file"
  default = file("missing.txt") # ERROR: file "missing.txt" does not exist (relative paths start at the directory of the file that calls file())
}
