variable "ns" {
  default = "10.0.0.7:9876"
}

pipeline "orders_to_mq" {
  source "test" {
    name    = "orders"
    mode    = "fsat"
    timeout = "10 seconds"
  }
  serializer "canal" {}
  sink "test" {
    hosts = [var.ns, var.nss]
  }
  filter "test" {
    name   = "rejected"
    labels = { bad = "x" }
  }
}
