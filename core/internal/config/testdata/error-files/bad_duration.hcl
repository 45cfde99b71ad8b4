pipeline "p" {
  source "test" {
    name    = "src"
    timeout = "5" # ERROR: "5" is not a valid duration for "timeout"
  }
  serializer "canal" {}
  sink "test" {
    name    = "snk"
    timeout = "2h" # ERROR: "timeout" must be between 1ms and 1h0m0s; got 2h0m0s
  }
  runtime {
    batch_timeout = "fast" # ERROR: Invalid duration
    drain_timeout = "-1s" # ERROR: "drain_timeout" must be at least 0s
    startup_wait  = "-5m" # ERROR: "startup_wait" must be at least 0s
  }
  checkpoint {
    interval = 0 # ERROR: "interval" must be at least 1ms; got 0s
  }
}
