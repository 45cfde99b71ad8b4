pipeline "p" {
  source "test" { name = "src" }
  serializer "canal" {}
  sink "test" { name = "snk" }
  runtime {
    writers = 300 # ERROR: "writers" must be between 1 and 256; got 300
  }
}
