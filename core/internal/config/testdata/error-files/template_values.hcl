template = "templates/values.hcl"

pipeline "p" {
  description = var.region
  source "test" { name = "src" }
  serializer "canal" {}
  sink "test" { # ERROR: The sink plugin "test" requires the argument "name"
    port = 8080
  }
  runtime {
    writers = 8 # no conflict with the template's preset: the pipeline file wins
  }
}
