variable "dir" { default = "templates" }

template = "${var.dir}/empty.hcl" # ERROR: Variables not allowed

pipeline "p" {
  source "test" { name = "src" }
  serializer "canal" {}
  sink "test" { name = "snk" }
}
