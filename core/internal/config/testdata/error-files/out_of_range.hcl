pipeline "p" {
  source "test" {
    name  = "src"
    port  = 70000 # ERROR: "port" must be between 1 and 65535; got 70000
    ratio = 1.5 # ERROR: "ratio" must be between 0 and 1; got 1.5
  }
  serializer "canal" {}
  sink "test" { name = "snk" }
  runtime {
    batch_size = 0 # ERROR: "batch_size" must be at least 1; got 0
  }
}
