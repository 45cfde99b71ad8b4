pipeline "p" {
  source { # ERROR: Missing name for source
    name = "src"
  }
  serializer "canal" {}
  sink "test" { name = "snk" }
}
