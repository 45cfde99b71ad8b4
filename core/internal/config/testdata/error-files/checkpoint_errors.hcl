pipeline "p" {
  source "test" { name = "src" }
  serializer "canal" {}
  sink "test" { name = "snk" }
  checkpoint {
    dir      = "" # ERROR: Empty checkpoint directory
    interval = "0s" # ERROR: "interval" must be at least 1ms
  }
}
