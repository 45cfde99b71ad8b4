pipeline "p" {
  source "test" { name = "src" }
  serializer "canal" {}
  sink "test" { name = "snk" }
  checkpoint {
    store      = "etcd" # ERROR: Missing checkpoint store setting
    lease_time = "1s" # ERROR: "lease_time" must be between 2s and 10m0s
    address    = "db:3306" # ERROR: Setting of another checkpoint store
  }
}
