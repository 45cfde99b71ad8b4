pipeline "orders_to_mq" {
  source "test" {
    name = "orders"
    prot = 2881
  }
  serializer "canal" {}
  sink "test" {
    name = "mq"
  }
  runtime {
    bach_size = 100
    writers   = 300
  }
  retries {}
}
