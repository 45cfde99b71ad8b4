pipeline "first" {
  source "test" { name = "src" }
  serializer "canal" {}
  sink "test" { name = "snk" }
}

pipeline "second" { # ERROR: Duplicate pipeline block
  source "test" { name = "src" }
  serializer "canal" {}
  sink "test" { name = "snk" }
}
