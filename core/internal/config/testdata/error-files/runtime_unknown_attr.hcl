pipeline "p" {
  source "test" { name = "src" }
  serializer "canal" {}
  sink "test" { name = "snk" }
  runtime {
    bach_size = 10 # ERROR: Did you mean "batch_size"?
    writers   = 2
    drain_timout = "5s" # ERROR: An argument named "drain_timout" is not expected here. Did you mean "drain_timeout"?
  }
}
