pipeline "p" { # ERROR: Pipeline "p" needs exactly one source block
  serializer "canal" {}
  sink "test" { name = "snk" }
}
