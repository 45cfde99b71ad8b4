template = ["templates/base.hcl", "templates/missing.hcl"]

pipeline "orders_to_mq" {
  source "test" {
    name = "orders"
    port = var.mq_token
  }
  serializer "canal" {}
  sink "test" {}
  runtime {
    writers = 8
  }
}
