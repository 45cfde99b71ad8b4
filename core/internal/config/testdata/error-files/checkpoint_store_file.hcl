pipeline "p" {
  source "test" { name = "src" }
  serializer "canal" {}
  sink "test" { name = "snk" }
  checkpoint {
    endpoints = ["127.0.0.1:2379"] # ERROR: Setting of another checkpoint store
    database  = "meta" # ERROR: Setting of another checkpoint store
  }
}
