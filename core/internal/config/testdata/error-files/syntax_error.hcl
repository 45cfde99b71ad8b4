pipeline "p" {
  source "test" { name = "src" }
  serializer "canal" {}
  sink "test" { name = "snk" }
  runtime {
    batch_size = = 3 # ERROR: Invalid expression
  }
}
