variable "a" {
  description = upper("fine")
  default     = lower(env("FERRY_TEST_NAME"))
}

variable "b" {
  description = var.a # ERROR: Variables not allowed
  default     = 1
}

variable "not valid" { # ERROR: Invalid variable name
  default = 1
}

pipeline { # ERROR: Missing name for pipeline
  source "test" { name = "src" }
}
