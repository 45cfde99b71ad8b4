pipeline "orders to mq" { # ERROR: Invalid pipeline name
  source "test" { name = "src" }
  serializer "canal" {}
  sink "test" { name = "snk" }
}
