pipeline "p" {
  source "test" {
    name   = "rejected" # ERROR: Name is rejected by the plugin
    hosts  = ["a", "bad"] # ERROR: Reported by the source plugin "test" about "hosts[1]".
    labels = { bad = "x" } # ERROR: Label key is reserved
  }
  serializer "canal" {}
  sink "test" { # ERROR: which is not set in this block
    name = "needs-password"
  }
}
