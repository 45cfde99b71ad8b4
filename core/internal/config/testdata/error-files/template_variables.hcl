template = "templates/variables.hcl"

variable "region" { # ERROR: Variable "region" is already declared in testdata/error-files/templates/variables.hcl on line 1
  default = "us"
}

pipeline "p" {
  description = var.region
  source "test" { name = var.team } # the template's variable
  serializer "canal" {}
  sink "test" { name = var.undeclared } # ERROR: There is no variable named "undeclared"
}
