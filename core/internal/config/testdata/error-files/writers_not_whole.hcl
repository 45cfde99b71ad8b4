pipeline "p" {
  source "test" { name = "src" }
  serializer "canal" {}
  sink "test" { name = "snk" }
  runtime {
    writers = 2.5 # ERROR: a whole number is required
    batch_size = "many" # ERROR: a number is required
  }
}
